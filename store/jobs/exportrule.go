package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// ErrExportRuleNotFound reports a branch without a continuous-export rule.
var ErrExportRuleNotFound = fmt.Errorf("export rule %w", store.ErrNotFound)

// exportRulesPartition holds every continuous-export rule, keyed by
// "<repo>/<branch>" (repository ids have no '/'), so that a watcher scans
// them all in one pass.
const exportRulesPartition = "export-rules"

func exportRuleKey(repo store.RepoID, branch store.BranchID) string {
	return string(repo) + "/" + string(branch)
}

// ExportRule is a branch's continuous export: once it is set, every new
// commit on the branch (followed along first parents, in commit order) is
// exported as a diff from the commit exported before it.
type ExportRule struct {
	Repo   store.RepoID   `json:"repository"`
	Branch store.BranchID `json:"branch"`
	// Destination, Rounds and Parallelism are those of every export the
	// rule submits (see ExportRequest).
	Destination string        `json:"destination"`
	Rounds      []ExportRound `json:"rounds,omitempty"`
	Parallelism int           `json:"parallelism,omitempty"`
	// LastExported is the newest commit the destination holds: the
	// branch's head when the rule was set, then each exported commit.
	LastExported store.CommitID `json:"last_exported"`
	// Pending is the commit being exported by job PendingJob (both empty
	// when no export of the rule is under way).
	Pending    store.CommitID `json:"pending,omitempty"`
	PendingJob store.JobID    `json:"pending_job,omitempty"`
	// LastError is why the last export of the rule failed; that commit is
	// tried again from NextAttempt on.
	LastError   string    `json:"last_error,omitempty"`
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Validate checks the rule's form. Errors wrap store.ErrInvalid.
func (r *ExportRule) Validate() error {
	if err := r.Repo.Validate(); err != nil {
		return err
	}
	if err := r.Branch.Validate(); err != nil {
		return err
	}
	if _, err := ExportDestination(r.Destination); err != nil {
		return err
	}
	if r.Parallelism < 0 || r.Parallelism > MaxExportParallelism {
		return fmt.Errorf("%w: export rule: parallelism %d: want 1 to %d (0: default %d)", store.ErrInvalidValue, r.Parallelism, MaxExportParallelism, DefaultExportParallelism)
	}
	_, err := CompileExportRounds(r.Rounds)
	return err
}

// Request returns the diff export that brings the destination from
// LastExported to commit.
func (r *ExportRule) Request(commit store.CommitID) *ExportRequest {
	return &ExportRequest{
		Ref:          store.Ref(r.Branch),
		CommitID:     commit,
		PrevCommitID: r.LastExported,
		Destination:  r.Destination,
		Rounds:       r.Rounds,
		Parallelism:  r.Parallelism,
		RuleBranch:   r.Branch,
	}
}

// ExportRules keeps continuous-export rules in the metadata KV. It is safe
// for concurrent use, also across processes: every change is a
// compare-and-swap of the rule's record.
type ExportRules struct {
	kv  kv.Store
	now func() time.Time
}

// ExportRules returns the rule store over the same KV and clock as s.
func (s *Store) ExportRules() *ExportRules { return &ExportRules{kv: s.kv, now: s.now} }

// Put creates or replaces the rule of r.Repo/r.Branch and returns it as
// stored. A replaced rule keeps its export position (LastExported, and an
// export under way); a new one starts from r.LastExported.
func (s *ExportRules) Put(ctx context.Context, r *ExportRule) (*ExportRule, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := r.LastExported.Validate(); err != nil {
		return nil, fmt.Errorf("export rule: last exported: %w", err)
	}
	var out *ExportRule
	err := s.update(ctx, r.Repo, r.Branch, true, func(cur *ExportRule) (*ExportRule, error) {
		next := *r
		next.Pending, next.PendingJob, next.LastError, next.Failures, next.NextAttempt = "", "", "", 0, time.Time{}
		next.CreatedAt = s.now().UTC()
		if cur != nil {
			next.LastExported, next.Pending, next.PendingJob = cur.LastExported, cur.Pending, cur.PendingJob
			next.CreatedAt = cur.CreatedAt
		}
		out = &next
		return &next, nil
	})
	return out, err
}

// Get returns the rule of repo/branch, or an error wrapping
// ErrExportRuleNotFound.
func (s *ExportRules) Get(ctx context.Context, repo store.RepoID, branch store.BranchID) (*ExportRule, error) {
	r, _, err := s.get(ctx, repo, branch)
	return r, err
}

func (s *ExportRules) get(ctx context.Context, repo store.RepoID, branch store.BranchID) (*ExportRule, []byte, error) {
	raw, err := s.kv.Get(ctx, exportRulesPartition, exportRuleKey(repo, branch))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: %s/%s", ErrExportRuleNotFound, repo, branch)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get export rule %s/%s: %w", repo, branch, err)
	}
	var r ExportRule
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, nil, fmt.Errorf("decode export rule %s/%s: %w", repo, branch, err)
	}
	return &r, raw, nil
}

// Delete removes the rule of repo/branch; an export it already submitted
// runs to its end. A missing rule is an error wrapping
// ErrExportRuleNotFound.
func (s *ExportRules) Delete(ctx context.Context, repo store.RepoID, branch store.BranchID) error {
	_, raw, err := s.get(ctx, repo, branch)
	if err != nil {
		return err
	}
	if err := s.kv.DeleteIf(ctx, exportRulesPartition, exportRuleKey(repo, branch), raw); err != nil {
		if errors.Is(err, kv.ErrPredicateFailed) {
			return s.Delete(ctx, repo, branch)
		}
		return fmt.Errorf("delete export rule %s/%s: %w", repo, branch, err)
	}
	return nil
}

// Update changes the rule of repo/branch by compare-and-swap: fn gets a
// copy of the stored rule and returns the rule to store, or ErrKeep to
// leave it as it is; it runs again when someone else changed the rule
// meanwhile, so it must be free of side effects. Update reports whether it
// wrote.
func (s *ExportRules) Update(ctx context.Context, repo store.RepoID, branch store.BranchID, fn func(r *ExportRule) error) (bool, error) {
	wrote := false
	err := s.update(ctx, repo, branch, false, func(cur *ExportRule) (*ExportRule, error) {
		next := *cur
		if err := fn(&next); err != nil {
			return nil, err
		}
		wrote = true
		return &next, nil
	})
	if errors.Is(err, ErrKeep) {
		return false, nil
	}
	return wrote && err == nil, err
}

// update applies fn to the stored rule (nil when absent and create is
// set) by compare-and-swap, with bounded retry.
func (s *ExportRules) update(ctx context.Context, repo store.RepoID, branch store.BranchID, create bool, fn func(cur *ExportRule) (*ExportRule, error)) error {
	backoff := time.Millisecond
	for range 100 {
		cur, raw, err := s.get(ctx, repo, branch)
		switch {
		case errors.Is(err, ErrExportRuleNotFound) && create:
			cur, raw = nil, nil
		case err != nil:
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		next.Repo, next.Branch, next.UpdatedAt = repo, branch, s.now().UTC()
		nraw, err := json.Marshal(next)
		if err != nil {
			return err
		}
		err = s.kv.SetIf(ctx, exportRulesPartition, exportRuleKey(repo, branch), nraw, raw)
		if err == nil {
			return nil
		}
		if !errors.Is(err, kv.ErrPredicateFailed) {
			return fmt.Errorf("update export rule %s/%s: %w", repo, branch, err)
		}
		t := time.NewTimer(backoff + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
	return fmt.Errorf("update export rule %s/%s: %w", repo, branch, store.ErrTooManyRetries)
}

// List calls fn with every rule, in repository and branch order, until fn
// returns an error (which List returns).
func (s *ExportRules) List(ctx context.Context, fn func(r *ExportRule) error) error {
	it := kv.Scan(ctx, s.kv, exportRulesPartition, "", "", 0)
	for it.Next() {
		var r ExportRule
		if err := json.Unmarshal(it.Entry().Value, &r); err != nil {
			return fmt.Errorf("decode export rule %s: %w", it.Entry().Key, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return it.Err()
}

// ListRepo calls fn with the rules of repo's branches, in branch order.
func (s *ExportRules) ListRepo(ctx context.Context, repo store.RepoID, fn func(r *ExportRule) error) error {
	it := kv.Scan(ctx, s.kv, exportRulesPartition, string(repo)+"/", "", 0)
	for it.Next() {
		var r ExportRule
		if err := json.Unmarshal(it.Entry().Value, &r); err != nil {
			return fmt.Errorf("decode export rule %s: %w", it.Entry().Key, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return it.Err()
}
