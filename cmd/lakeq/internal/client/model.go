package client

import "time"

// Pagination is the paging block of every list answer.
type Pagination struct {
	HasMore    bool   `json:"has_more"`
	NextOffset string `json:"next_offset"`
	Results    int    `json:"results"`
	MaxPerPage int    `json:"max_per_page"`
}

// page is the shape of every list answer.
type page[T any] struct {
	Pagination Pagination `json:"pagination"`
	Results    []T        `json:"results"`
}

// Repository is a repository as the API describes it.
type Repository struct {
	ID               string `json:"id"`
	CreationDate     int64  `json:"creation_date"` // Unix seconds
	DefaultBranch    string `json:"default_branch"`
	StorageNamespace string `json:"storage_namespace"`
}

// Created returns CreationDate as a time.
func (r Repository) Created() time.Time { return time.Unix(r.CreationDate, 0) }

// RepositoryCreation is the body of a create-repository call.
type RepositoryCreation struct {
	Name             string `json:"name"`
	StorageNamespace string `json:"storage_namespace"`
	DefaultBranch    string `json:"default_branch,omitempty"`
}

// Ref is a branch or tag and the commit it points at.
type Ref struct {
	ID       string `json:"id"`
	CommitID string `json:"commit_id"`
}

// Commit is one commit as the API describes it.
type Commit struct {
	ID           string            `json:"id"`
	Parents      []string          `json:"parents"`
	Committer    string            `json:"committer"`
	Message      string            `json:"message"`
	CreationDate int64             `json:"creation_date"` // Unix seconds
	MetaRangeID  string            `json:"meta_range_id"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	Generation   int64             `json:"generation,omitempty"`
}

// Created returns CreationDate as a time.
func (c Commit) Created() time.Time { return time.Unix(c.CreationDate, 0) }

// CommitCreation is the body of a commit call.
type CommitCreation struct {
	Message    string            `json:"message"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	AllowEmpty bool              `json:"allow_empty,omitempty"`
}

// Merge is the body of a merge call. Strategy is "", "source-wins" or
// "dest-wins".
type Merge struct {
	Message  string            `json:"message,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Strategy string            `json:"strategy,omitempty"`
}

// MergeResult is the answer of a merge: the commit the destination now
// points at.
type MergeResult struct {
	Reference string `json:"reference"`
}

// ResetCreation is the body of a reset call: Type "reset" drops every
// uncommitted change, "object" one object's and "common_prefix" those under
// Path.
type ResetCreation struct {
	Type string `json:"type"`
	Path string `json:"path,omitempty"`
}

// Reset types.
const (
	ResetAll    = "reset"
	ResetObject = "object"
	ResetPrefix = "common_prefix"
)

// Path types of listing and diff results.
const (
	PathTypeObject = "object"
	PathTypePrefix = "common_prefix"
)

// ObjectStats describes an object, or a common prefix in a listing.
type ObjectStats struct {
	Path            string            `json:"path"`
	PathType        string            `json:"path_type"`
	PhysicalAddress string            `json:"physical_address"`
	Checksum        string            `json:"checksum"`
	SizeBytes       int64             `json:"size_bytes"`
	Mtime           int64             `json:"mtime"` // Unix seconds
	Metadata        map[string]string `json:"metadata,omitempty"`
	ContentType     string            `json:"content_type,omitempty"`
}

// Modified returns Mtime as a time.
func (o ObjectStats) Modified() time.Time { return time.Unix(o.Mtime, 0) }

// DiffObjectStat is the right-hand side of a diff item, when asked for.
type DiffObjectStat struct {
	Checksum    string            `json:"checksum"`
	Mtime       int64             `json:"mtime"`
	ContentType string            `json:"content_type"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// Diff is one difference: Type is added, removed, changed, conflict or
// prefix_changed.
type Diff struct {
	Type      string          `json:"type"`
	Path      string          `json:"path"`
	PathType  string          `json:"path_type"`
	SizeBytes *int64          `json:"size_bytes,omitempty"`
	Right     *DiffObjectStat `json:"right,omitempty"`
}

// ObjectError is one path a batch delete could not remove.
type ObjectError struct {
	StatusCode int    `json:"status_code"`
	Message    string `json:"message"`
	Path       string `json:"path,omitempty"`
}
