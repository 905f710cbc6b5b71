package jobs

import (
	"fmt"
	"strings"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// ImportPathType says what an import source names.
type ImportPathType string

// Import source types, as lakeFS's ImportLocation names them.
const (
	// ImportCommonPrefix imports every object under a key prefix; the
	// destination is the prefix they go under.
	ImportCommonPrefix ImportPathType = "common_prefix"
	// ImportObject imports one object; the destination is its exact path.
	ImportObject ImportPathType = "object"
)

// Limits of an import request.
const (
	// MaxImportPaths is the largest number of sources one import takes.
	MaxImportPaths = 1000
	// MaxImportMessage is the longest commit message, in bytes.
	MaxImportMessage = 64 << 10
)

// MetadataJobID is the commit metadata key an import commit carries its
// job id under; finalize looks for it to commit exactly once. User
// metadata may not use the "lakeq." key prefix.
const MetadataJobID = "lakeq.job_id"

// reservedMetadataPrefix starts the commit metadata keys lakeq sets itself.
const reservedMetadataPrefix = "lakeq."

// DefaultImportMessage is the commit message of an import that gives none.
const DefaultImportMessage = "Import objects"

// ImportPath is one source of an import: lakeFS's ImportLocation.
type ImportPath struct {
	Type ImportPathType `json:"type"`
	// Path is the source URI: s3://bucket/prefix or local:///abs/path.
	Path string `json:"path"`
	// Destination is the path under the branch: the prefix the objects go
	// under (common_prefix; "" is the branch's root), or the object's
	// exact path (object).
	Destination string `json:"destination"`
}

// ImportCommit is the commit an import ends with: lakeFS's CommitCreation.
type ImportCommit struct {
	Message  string            `json:"message"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ImportRequest is the request of an import job (kind KindImport), as
// stored in Job.Request.
type ImportRequest struct {
	Branch store.BranchID `json:"branch"`
	Paths  []ImportPath   `json:"paths"`
	Commit ImportCommit   `json:"commit"`
	// Force allows importing into a branch with uncommitted changes; they
	// stay uncommitted on top of the import commit.
	Force bool `json:"force,omitempty"`
	// Committer is the user who submitted the import.
	Committer string `json:"committer,omitempty"`
}

// ImportResult is the Result of a completed import job.
type ImportResult struct {
	CommitID    store.CommitID `json:"commit_id"`
	MetaRangeID string         `json:"metarange_id"`
	// Ingested is the number of objects the import's commit holds under
	// its destinations.
	Ingested int64 `json:"ingested_objects"`
}

// Validate checks the request's form (not whether its sources exist):
// a valid branch, 1 to MaxImportPaths paths, each of a known type with a
// well-formed s3:// or local:// URI and a valid destination (an object
// source names a key, not a prefix), and commit metadata without lakeq's
// reserved "lakeq." keys. Errors wrap store.ErrInvalid.
func (r *ImportRequest) Validate() error {
	if err := r.Branch.Validate(); err != nil {
		return err
	}
	switch {
	case len(r.Paths) == 0:
		return fmt.Errorf("%w: import: no paths", store.ErrInvalidValue)
	case len(r.Paths) > MaxImportPaths:
		return fmt.Errorf("%w: import: %d paths, over the limit of %d", store.ErrInvalidValue, len(r.Paths), MaxImportPaths)
	case len(r.Commit.Message) > MaxImportMessage:
		return fmt.Errorf("%w: import: commit message of %d bytes, over the limit of %d", store.ErrInvalidValue, len(r.Commit.Message), MaxImportMessage)
	}
	for i, p := range r.Paths {
		if _, err := p.Source(); err != nil {
			return fmt.Errorf("import: paths[%d]: %w", i, err)
		}
	}
	for k := range r.Commit.Metadata {
		if strings.HasPrefix(k, reservedMetadataPrefix) {
			return fmt.Errorf("%w: import: commit metadata key %q: the %q prefix is reserved", store.ErrInvalidValue, k, reservedMetadataPrefix)
		}
		if k == "" {
			return fmt.Errorf("%w: import: empty commit metadata key", store.ErrInvalidValue)
		}
	}
	return nil
}

// Source parses and checks p, returning its source URI.
func (p ImportPath) Source() (block.URI, error) {
	u, err := block.ParseURI(p.Path)
	if err != nil {
		return block.URI{}, err
	}
	switch p.Type {
	case ImportCommonPrefix:
		if err := store.ValidatePrefix(p.Destination); err != nil {
			return block.URI{}, fmt.Errorf("destination %q: %w", p.Destination, err)
		}
	case ImportObject:
		if u.Key == "" || strings.HasSuffix(u.Key, "/") {
			return block.URI{}, fmt.Errorf("%w %q: an object source names one object, not a prefix", store.ErrInvalidURI, p.Path)
		}
		if err := store.ValidatePath(p.Destination); err != nil {
			return block.URI{}, fmt.Errorf("destination %q: %w", p.Destination, err)
		}
	default:
		return block.URI{}, fmt.Errorf("%w: path type %q: want %q or %q", store.ErrInvalidValue, p.Type, ImportCommonPrefix, ImportObject)
	}
	return u, nil
}

// CommitMetadata returns the metadata of the import's commit: the
// request's, plus MetadataJobID.
func (r *ImportRequest) CommitMetadata(id store.JobID) map[string]string {
	md := make(map[string]string, len(r.Commit.Metadata)+1)
	for k, v := range r.Commit.Metadata {
		md[k] = v
	}
	md[MetadataJobID] = string(id)
	return md
}

// CommitMessage returns the commit message, DefaultImportMessage when the
// request gives none.
func (r *ImportRequest) CommitMessage() string {
	if r.Commit.Message == "" {
		return DefaultImportMessage
	}
	return r.Commit.Message
}
