package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store/auth"
)

func TestHealthCheckNeedsNoCredentials(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: http.MethodGet, path: "/api/v1/healthcheck", noAuth: true})
	expect(t, r, http.StatusNoContent)
}

func TestSetup(t *testing.T) {
	e := newEnv(t)
	// newEnv created credentials, so this installation is set up.
	var state struct {
		State string `json:"state"`
	}
	r := e.do(req{method: http.MethodGet, path: "/api/v1/setup_lakefs", noAuth: true})
	expect(t, r, http.StatusOK)
	r.json(t, &state)
	if state.State != "initialized" {
		t.Fatalf("state %q, want initialized", state.State)
	}
	r = e.do(req{method: http.MethodPost, path: "/api/v1/setup_lakefs", noAuth: true,
		body: strings.NewReader(`{"username":"admin"}`), header: map[string]string{"Content-Type": "application/json"}})
	expectError(t, r, http.StatusConflict)
}

func TestSetupFirstUser(t *testing.T) {
	post := func(e *env, body string) response {
		return e.do(req{method: http.MethodPost, path: "/api/v1/setup_lakefs", noAuth: true,
			body: strings.NewReader(body), header: map[string]string{"Content-Type": "application/json"}})
	}
	fresh := newEnvWith(t, options{noCredentials: true})
	authStoreHasNoCredentials(t, fresh.auth)
	var state struct {
		State string `json:"state"`
	}
	r := fresh.do(req{method: http.MethodGet, path: "/api/v1/setup_lakefs", noAuth: true})
	expect(t, r, http.StatusOK)
	r.json(t, &state)
	if state.State != "not_initialized" {
		t.Fatalf("state %q, want not_initialized", state.State)
	}

	bad := []struct{ name, body string }{
		{"malformed JSON", `{"username":`},
		{"empty body", ``},
		{"no user name", `{}`},
		{"user name of wrong type", `{"username": 7}`},
		{"half a key", `{"username":"admin","key":{"access_key_id":"AKIAX"}}`},
		{"invalid user name", `{"username":"a b"}`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) { expectError(t, post(fresh, tc.body), http.StatusBadRequest) })
	}

	r = post(fresh, `{"username":"admin","key":{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}`)
	expect(t, r, http.StatusOK)
	var creds struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		CreationDate    int64  `json:"creation_date"`
	}
	r.json(t, &creds)
	if creds.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" || creds.SecretAccessKey == "" || creds.CreationDate == 0 {
		t.Fatalf("credentials %+v", creds)
	}
	// The new credentials work, and setup is closed.
	u := fresh.do(req{method: http.MethodGet, path: "/api/v1/user", keyID: creds.AccessKeyID, secret: creds.SecretAccessKey})
	expect(t, u, http.StatusOK)
	expectError(t, post(fresh, `{"username":"second"}`), http.StatusConflict)
	r = fresh.do(req{method: http.MethodGet, path: "/api/v1/setup_lakefs", noAuth: true})
	r.json(t, &state)
	if state.State != "initialized" {
		t.Fatalf("state after setup %q, want initialized", state.State)
	}
}

func TestCurrentUser(t *testing.T) {
	e := newEnv(t)
	r := e.get("/api/v1/user")
	expect(t, r, http.StatusOK)
	var body struct {
		User struct {
			ID           string `json:"id"`
			CreationDate int64  `json:"creation_date"`
		} `json:"user"`
	}
	r.json(t, &body)
	if body.User.ID != "tester" || body.User.CreationDate == 0 {
		t.Fatalf("user %+v", body.User)
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t)
	expectError(t, e.do(req{method: http.MethodGet, path: "/api/v1/config", noAuth: true}), http.StatusUnauthorized)

	r := e.get("/api/v1/config")
	expect(t, r, http.StatusOK)
	var cfg struct {
		VersionConfig struct {
			Version string `json:"version"`
		} `json:"version_config"`
		StorageConfig *struct {
			BlockstoreType  string `json:"blockstore_type"`
			PreSignSupport  *bool  `json:"pre_sign_support"`
			NamespaceRegexp string `json:"blockstore_namespace_ValidityRegex"`
			ImportSupport   *bool  `json:"import_support"`
		} `json:"storage_config"`
		StorageConfigList []any `json:"storage_config_list"`
	}
	r.json(t, &cfg)
	if cfg.VersionConfig.Version != "dev" {
		t.Errorf("version %q, want dev", cfg.VersionConfig.Version)
	}
	sc := cfg.StorageConfig
	if sc == nil || sc.BlockstoreType != "local" || sc.PreSignSupport == nil || *sc.PreSignSupport ||
		sc.NamespaceRegexp != "^local://" || sc.ImportSupport == nil {
		t.Fatalf("storage config %s", r.body)
	}
	if cfg.StorageConfigList == nil || len(cfg.StorageConfigList) != 0 {
		t.Errorf("storage_config_list %v, want []", cfg.StorageConfigList)
	}

	r = e.get("/api/v1/config/storage")
	expect(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `"blockstore_type":"local"`) {
		t.Errorf("config/storage %s", r.body)
	}
	r = e.get("/api/v1/config/version")
	expect(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `"version":"dev"`) {
		t.Errorf("config/version %s", r.body)
	}
}

// authStoreHasNoCredentials guards TestSetupFirstUser's assumption.
func authStoreHasNoCredentials(t *testing.T, s *auth.Store) {
	t.Helper()
	has, err := s.HasAnyCredentials(context.Background())
	if err != nil || has {
		t.Fatalf("fresh auth store: has credentials = %v, %v", has, err)
	}
}
