package jobs

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// Limits and defaults of an export request.
const (
	// MaxExportRounds is the largest number of round rules one export
	// takes.
	MaxExportRounds = 100
	// MaxExportRound is the largest round number a rule may give.
	MaxExportRound = 1000
	// MaxExportPattern is the longest round pattern, in bytes.
	MaxExportPattern = 1024
	// MaxExportParallelism caps the copies one worker runs at a time for
	// one export.
	MaxExportParallelism = 1024
	// DefaultExportParallelism is the per-worker copy parallelism of an
	// export that gives none.
	DefaultExportParallelism = 32
)

// DefaultSuccessPattern matches Spark's _SUCCESS markers; by default they
// are exported in round 1, after every other object (round 0).
const DefaultSuccessPattern = `(^|/)_SUCCESS$`

// ExportRound is one rule of an export's ordering: objects whose path
// matches Pattern (a Go regular expression, RE2 syntax) are copied in
// round Round. The first matching rule wins; objects no rule matches go in
// round 0. Rounds run in ascending order, each only after every object of
// the earlier rounds was copied, and a round with a failed object stops
// every later round.
type ExportRound struct {
	Pattern string `json:"pattern"`
	Round   int    `json:"round"`
}

// DefaultExportRounds returns the rules of an export that gives none:
// _SUCCESS objects in round 1, everything else in round 0.
func DefaultExportRounds() []ExportRound {
	return []ExportRound{{Pattern: DefaultSuccessPattern, Round: 1}}
}

// ExportRequest is the request of an export job (kind KindExport), as
// stored in Job.Request. The API resolves the submitted reference to a
// commit id, so the job is pinned to commits whatever the branch does
// meanwhile.
//
// Modes: without PrevCommitID every object of CommitID is copied to
// Destination; with it, only the difference from PrevCommitID to CommitID
// is applied (added and changed objects copied, removed ones deleted at
// the destination).
type ExportRequest struct {
	// Ref is the reference the request named (a branch, tag or commit),
	// kept for display; CommitID is what it resolved to.
	Ref store.Ref `json:"ref,omitempty"`
	// CommitID is the commit exported. Required.
	CommitID store.CommitID `json:"commit_id"`
	// PrevCommitID, when set, selects diff mode.
	PrevCommitID store.CommitID `json:"prev_commit_id,omitempty"`
	// Destination is the prefix objects are copied under:
	// s3://bucket/prefix/, local://bucket/prefix/ or local:///abs/path/.
	// An object at path p lands at Destination + p.
	Destination string `json:"destination"`
	// Rounds orders the copies; nil means DefaultExportRounds.
	Rounds []ExportRound `json:"rounds,omitempty"`
	// Parallelism is how many copies one worker runs at a time for this
	// export; 0 means DefaultExportParallelism.
	Parallelism int `json:"parallelism,omitempty"`
	// RuleBranch names the branch whose continuous-export rule submitted
	// the job; empty for exports submitted directly.
	RuleBranch store.BranchID `json:"rule_branch,omitempty"`
	// Submitter is the user who submitted the export.
	Submitter string `json:"submitter,omitempty"`
}

// Validate checks the request's form (not whether its commits or its
// destination exist). Errors wrap store.ErrInvalid.
func (r *ExportRequest) Validate() error {
	if err := r.CommitID.Validate(); err != nil {
		return fmt.Errorf("export: commit_id: %w", err)
	}
	if r.PrevCommitID != "" {
		if err := r.PrevCommitID.Validate(); err != nil {
			return fmt.Errorf("export: prev_commit_id: %w", err)
		}
	}
	if _, err := ExportDestination(r.Destination); err != nil {
		return err
	}
	if r.Parallelism < 0 || r.Parallelism > MaxExportParallelism {
		return fmt.Errorf("%w: export: parallelism %d: want 1 to %d (0: default %d)", store.ErrInvalidValue, r.Parallelism, MaxExportParallelism, DefaultExportParallelism)
	}
	if r.RuleBranch != "" {
		if err := r.RuleBranch.Validate(); err != nil {
			return fmt.Errorf("export: rule_branch: %w", err)
		}
	}
	_, err := CompileExportRounds(r.Rounds)
	return err
}

// EffectiveParallelism returns Parallelism, or its default.
func (r *ExportRequest) EffectiveParallelism() int {
	if r.Parallelism <= 0 {
		return DefaultExportParallelism
	}
	return r.Parallelism
}

// Diff reports whether the request is a diff export.
func (r *ExportRequest) Diff() bool { return r.PrevCommitID != "" }

// ExportDestination parses an export destination: an s3:// or local://
// URI naming a prefix. A key that does not end with '/' is taken as a
// directory (a '/' is added). Errors wrap store.ErrInvalid.
func ExportDestination(s string) (block.URI, error) {
	if s == "" {
		return block.URI{}, fmt.Errorf("%w: export: destination is required (s3://bucket/prefix/ or local://…)", store.ErrInvalidURI)
	}
	u, err := block.ParseURI(s)
	if err != nil {
		return block.URI{}, fmt.Errorf("export: destination: %w", err)
	}
	if u.Key != "" && !strings.HasSuffix(u.Key, "/") {
		u.Key += "/"
	}
	if err := u.Validate(); err != nil {
		return block.URI{}, fmt.Errorf("export: destination: %w", err)
	}
	return u, nil
}

// ExportRounds decides which round each path is copied in. It is safe for
// concurrent use.
type ExportRounds struct {
	rules  []compiledRound
	rounds []int
}

type compiledRound struct {
	re    *regexp.Regexp
	round int
}

// CompileExportRounds checks and compiles round rules; nil or empty means
// DefaultExportRounds. Errors wrap store.ErrInvalid.
func CompileExportRounds(rules []ExportRound) (*ExportRounds, error) {
	if len(rules) == 0 {
		rules = DefaultExportRounds()
	}
	if len(rules) > MaxExportRounds {
		return nil, fmt.Errorf("%w: export: %d round rules, over the limit of %d", store.ErrInvalidValue, len(rules), MaxExportRounds)
	}
	er := &ExportRounds{rounds: []int{0}}
	for i, r := range rules {
		if r.Round < 0 || r.Round > MaxExportRound {
			return nil, fmt.Errorf("%w: export: rounds[%d]: round %d: want 0 to %d", store.ErrInvalidValue, i, r.Round, MaxExportRound)
		}
		if r.Pattern == "" || len(r.Pattern) > MaxExportPattern {
			return nil, fmt.Errorf("%w: export: rounds[%d]: pattern must be 1 to %d bytes", store.ErrInvalidValue, i, MaxExportPattern)
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%w: export: rounds[%d]: pattern %q: %v", store.ErrInvalidValue, i, r.Pattern, err)
		}
		er.rules = append(er.rules, compiledRound{re: re, round: r.Round})
		er.rounds = append(er.rounds, r.Round)
	}
	slices.Sort(er.rounds)
	er.rounds = slices.Compact(er.rounds)
	return er, nil
}

// Round returns the round of path: that of the first rule matching it,
// else 0.
func (e *ExportRounds) Round(path string) int {
	for _, r := range e.rules {
		if r.re.MatchString(path) {
			return r.round
		}
	}
	return 0
}

// Rounds returns the rounds the rules can produce, ascending; round 0 is
// always among them.
func (e *ExportRounds) Rounds() []int { return slices.Clone(e.rounds) }

// ExportStatusTimeLayout formats the time in an export's status file name:
// UTC, basic ISO 8601 (20261122T035000Z), with no character that S3 keys
// or file names on common filesystems forbid.
const ExportStatusTimeLayout = "20060102T150405Z"

// ExportStatusPrefix starts the name of every export status file.
const ExportStatusPrefix = "EXPORT_"

// ExportStatusName returns the name of an export's status file, written at
// the destination's root when the export ends:
// EXPORT_<commit id>_<UTC time>_SUCCESS or …_FAILURE.
func ExportStatusName(commit store.CommitID, at time.Time, success bool) string {
	status := "FAILURE"
	if success {
		status = "SUCCESS"
	}
	return ExportStatusPrefix + string(commit) + "_" + at.UTC().Format(ExportStatusTimeLayout) + "_" + status
}

// ExportResult is the Result of a finished export job.
type ExportResult struct {
	CommitID     store.CommitID `json:"commit_id"`
	PrevCommitID store.CommitID `json:"prev_commit_id,omitempty"`
	Destination  string         `json:"destination"`
	// StatusFile is the URI of the status file the export wrote.
	StatusFile string `json:"status_file"`
	// Success reports that every object was exported.
	Success bool `json:"success"`
	// Copied counts objects copied; Skipped, objects a redelivered task
	// found already copied; Deleted, objects removed at the destination
	// (diff mode); Failed, objects that could not be exported.
	Copied  int64 `json:"copied"`
	Skipped int64 `json:"skipped,omitempty"`
	Deleted int64 `json:"deleted,omitempty"`
	Failed  int64 `json:"failed,omitempty"`
	// Bytes is the size of the objects copied.
	Bytes int64 `json:"bytes"`
	// Rounds lists the rounds that ran, in order.
	Rounds []int `json:"rounds"`
}

// WorkPartition returns the KV partition where the handler of job id may
// keep its working state (under key prefixes of its own): the partition of
// the job's task ledger, which Expire drops with the job.
func WorkPartition(id store.JobID) string { return tasksPartition(id) }
