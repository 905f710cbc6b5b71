package api

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/block"
)

// healthCheck answers 204 while the server is up (lakeFS's healthCheck).
func (s *Server) healthCheck(c *fiber.Ctx) error {
	return c.SendStatus(http.StatusNoContent)
}

// setupState is lakeFS's SetupState schema.
type setupState struct {
	State            string `json:"state"`
	CommPrefsMissing bool   `json:"comm_prefs_missing"`
}

// getSetupState reports whether the installation has its first user.
func (s *Server) getSetupState(c *fiber.Ctx) error {
	has, err := s.auth.HasAnyCredentials(c.UserContext())
	if err != nil {
		return err
	}
	state := "not_initialized"
	if has {
		state = "initialized"
	}
	return c.JSON(setupState{State: state})
}

// setupRequest is lakeFS's Setup schema (the fields lakeq uses).
type setupRequest struct {
	Username string `json:"username"`
	Key      *struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	} `json:"key"`
}

// credentialsWithSecret is lakeFS's CredentialsWithSecret schema.
type credentialsWithSecret struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	CreationDate    int64  `json:"creation_date"`
}

// setup creates the first user and its credentials; once there is one, it
// answers 409.
func (s *Server) setup(c *fiber.Ctx) error {
	var req setupRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Username == "" {
		return badRequest("empty user name")
	}
	var keyID, secret string
	if req.Key != nil {
		if req.Key.AccessKeyID == "" || req.Key.SecretAccessKey == "" {
			return badRequest("key needs both access_key_id and secret_access_key")
		}
		keyID, secret = req.Key.AccessKeyID, req.Key.SecretAccessKey
	}
	keyID, secret, err := s.auth.Setup(c.UserContext(), req.Username, keyID, secret)
	if errors.Is(err, auth.ErrAlreadySetUp) {
		return newStatusError(http.StatusConflict, "lakeq is already set up")
	}
	if err != nil {
		return err
	}
	user, err := s.auth.GetUser(c.UserContext(), req.Username)
	if err != nil {
		return err
	}
	return c.JSON(credentialsWithSecret{AccessKeyID: keyID, SecretAccessKey: secret, CreationDate: user.CreationDate.Unix()})
}

// userBody is lakeFS's User schema.
type userBody struct {
	ID           string `json:"id"`
	CreationDate int64  `json:"creation_date"`
	FriendlyName string `json:"friendly_name,omitempty"`
}

// getCurrentUser returns the authenticated user ({"user": {...}}).
func (s *Server) getCurrentUser(c *fiber.Ctx) error {
	u, err := currentUser(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"user": userBody{ID: u.Name, CreationDate: u.CreationDate.Unix(), FriendlyName: u.Name}})
}

// versionConfig is lakeFS's VersionConfig schema. version_context stays
// empty: lakectl treats any other value than "lakeFS" as a different
// product line and warns.
type versionConfig struct {
	Version            string `json:"version"`
	UpgradeRecommended bool   `json:"upgrade_recommended"`
}

// storageConfig is lakeFS's StorageConfig schema.
type storageConfig struct {
	BlockstoreType                   string `json:"blockstore_type"`
	BlockstoreNamespaceExample       string `json:"blockstore_namespace_example"`
	BlockstoreNamespaceValidityRegex string `json:"blockstore_namespace_ValidityRegex"`
	DefaultNamespacePrefix           string `json:"default_namespace_prefix,omitempty"`
	PreSignSupport                   bool   `json:"pre_sign_support"`
	PreSignSupportUI                 bool   `json:"pre_sign_support_ui"`
	ImportSupport                    bool   `json:"import_support"`
	ImportValidityRegex              string `json:"import_validity_regex"`
	PreSignMultipartUpload           bool   `json:"pre_sign_multipart_upload"`
	BlockstoreID                     string `json:"blockstore_id,omitempty"`
	BlockstoreDescription            string `json:"blockstore_description,omitempty"`
}

// configBody is lakeFS's Config schema.
type configBody struct {
	VersionConfig      versionConfig   `json:"version_config"`
	StorageConfig      storageConfig   `json:"storage_config"`
	StorageConfigList  []storageConfig `json:"storage_config_list"`
	UIConfig           fiber.Map       `json:"ui_config"`
	CapabilitiesConfig fiber.Map       `json:"capabilities_config"`
}

// getConfig returns the version and storage configuration lakeFS clients
// read before anything else (lakectl decides from pre_sign_support whether
// it moves data through the API or directly to storage).
func (s *Server) getConfig(c *fiber.Ctx) error {
	return c.JSON(configBody{
		VersionConfig:      s.versionConfig(),
		StorageConfig:      s.storageConfig(),
		StorageConfigList:  []storageConfig{},
		UIConfig:           fiber.Map{"custom_viewers": []any{}},
		CapabilitiesConfig: fiber.Map{},
	})
}

// getVersion returns lakeq's version (lakeFS's deprecated getLakeFSVersion).
func (s *Server) getVersion(c *fiber.Ctx) error {
	return c.JSON(s.versionConfig())
}

// getStorageConfig returns the storage configuration alone (lakeFS's
// deprecated getStorageConfig).
func (s *Server) getStorageConfig(c *fiber.Ctx) error {
	return c.JSON(s.storageConfig())
}

func (s *Server) versionConfig() versionConfig {
	return versionConfig{Version: s.cfg.Version}
}

// storageConfig describes the storage repositories may live in. lakeq
// reports pre_sign_support false: uploads go through the API (lakeq does
// not hand out presigned upload addresses yet), while reads may still ask
// for a presigned URL with presign=true where the storage supports it (S3).
func (s *Server) storageConfig() storageConfig {
	hasS3, hasLocal := s.storageKinds()
	sc := storageConfig{
		BlockstoreType:                   block.SchemeLocal,
		BlockstoreNamespaceExample:       "local://example-bucket/example-repo/",
		BlockstoreNamespaceValidityRegex: "^local://",
		ImportValidityRegex:              "^local://",
		BlockstoreDescription:            "local filesystem",
	}
	switch {
	case hasS3 && hasLocal:
		sc.BlockstoreType = block.SchemeS3
		sc.BlockstoreNamespaceExample = "s3://example-bucket/example-repo/"
		sc.BlockstoreNamespaceValidityRegex = "^(s3|local)://"
		sc.ImportValidityRegex = "^(s3|local)://"
		sc.BlockstoreDescription = "S3-compatible object storage and local filesystem"
	case hasS3:
		sc.BlockstoreType = block.SchemeS3
		sc.BlockstoreNamespaceExample = "s3://example-bucket/example-repo/"
		sc.BlockstoreNamespaceValidityRegex = "^s3://"
		sc.ImportValidityRegex = "^s3://"
		sc.BlockstoreDescription = "S3-compatible object storage"
	}
	return sc
}

// storageKinds reports which URI schemes the graph's storage resolver
// serves, by resolving a well-formed example of each.
func (s *Server) storageKinds() (hasS3, hasLocal bool) {
	r := s.graph.Blocks()
	if r == nil {
		return false, false
	}
	_, errS3 := r.Resolve(block.URI{Scheme: block.SchemeS3, Bucket: "example-bucket"})
	_, errLocal := r.Resolve(block.URI{Scheme: block.SchemeLocal, Bucket: "example-bucket"})
	return errS3 == nil, errLocal == nil
}
