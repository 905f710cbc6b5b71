package graph

import (
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/tree"
)

// Repository is a named, versioned tree of objects kept in one storage
// namespace.
type Repository struct {
	ID               store.RepoID   `json:"id"`
	StorageNamespace string         `json:"storage_namespace"`
	DefaultBranch    store.BranchID `json:"default_branch"`
	CreationDate     time.Time      `json:"creation_date"`
}

// Branch is a movable pointer to a commit plus its uncommitted changes.
type Branch struct {
	ID       store.BranchID `json:"id"`
	CommitID store.CommitID `json:"commit_id"`
}

// Tag is an immutable name for a commit.
type Tag struct {
	ID       store.TagID    `json:"id"`
	CommitID store.CommitID `json:"commit_id"`
}

// Commit is one immutable version of a repository's tree.
type Commit struct {
	ID           store.CommitID    `json:"id"`
	Parents      []store.CommitID  `json:"parents"`
	MetaRangeID  tree.MetaRangeID  `json:"metarange_id"`
	Message      string            `json:"message"`
	Committer    string            `json:"committer"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CreationDate time.Time         `json:"creation_date"`
	// Generation is 1 for a root commit and 1 + the largest parent
	// generation otherwise; it orders ancestry walks.
	Generation int64 `json:"generation"`
}

// CommitParams are the caller-supplied fields of a new commit.
type CommitParams struct {
	Message   string
	Committer string
	Metadata  map[string]string
	// AllowEmpty creates the commit even when nothing changed.
	AllowEmpty bool
	// Date overrides the creation time (zero: now).
	Date time.Time
}

// RefType says what a reference expression resolved through.
type RefType string

// Reference kinds.
const (
	RefTypeBranch RefType = "branch"
	RefTypeTag    RefType = "tag"
	RefTypeCommit RefType = "commit"
)

// ResolvedRef is the outcome of resolving a reference expression.
type ResolvedRef struct {
	Type     RefType
	BranchID store.BranchID // set when Type is RefTypeBranch
	CommitID store.CommitID
	// Staged reports that reads through this ref see the branch's
	// uncommitted changes (a bare branch name, without modifiers or a
	// trailing '@').
	Staged bool
}

// ListItem is one result of listing a tree: an object, or a common prefix
// when listing with a delimiter.
type ListItem struct {
	Path     string
	IsPrefix bool
	Entry    *store.Entry // nil for a prefix
}

// ListOptions selects a page of a listing or a diff.
type ListOptions struct {
	Prefix    string
	After     string // only paths strictly after this one
	Delimiter string // "" or "/"
	Amount    int    // page size; default 1,000, at most 10,000
}

// DiffType classifies one difference.
type DiffType string

// Kinds of difference.
const (
	DiffAdded   DiffType = "added"
	DiffRemoved DiffType = "removed"
	DiffChanged DiffType = "changed"
	// DiffPrefixChanged is a common prefix (with a delimiter) under which
	// something changed.
	DiffPrefixChanged DiffType = "prefix_changed"
)

// DiffItem is one difference between two trees.
type DiffItem struct {
	Type     DiffType
	Path     string
	IsPrefix bool
	Left     *store.Entry
	Right    *store.Entry
}

// LogOptions selects a page of history.
type LogOptions struct {
	// FirstParent follows only the first parent of merge commits.
	FirstParent bool
	// After starts the page after this commit id (exclusive).
	After store.CommitID
	// Amount is the page size; default 100.
	Amount int
	// Until stops the walk at this commit (exclusive), when set.
	Until store.CommitID
}

// MergeStrategy chooses how conflicting changes are resolved.
type MergeStrategy = tree.MergeStrategy

// MergeParams are the caller-supplied fields of a merge.
type MergeParams struct {
	CommitParams
	Strategy MergeStrategy
}

const (
	defaultAmount = 1000
	maxAmount     = 10000
)

func pageSize(n, def int) int {
	if n <= 0 {
		return def
	}
	if n > maxAmount {
		return maxAmount
	}
	return n
}
