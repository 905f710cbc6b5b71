package graph

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// branchRecord is a branch as kept in the KV. Readers see the head commit's
// tree, overlaid by the sealed staging tokens (oldest first, so newer ones
// win), overlaid by the staging token.
type branchRecord struct {
	CommitID     store.CommitID `json:"commit_id"`
	StagingToken string         `json:"staging_token"`
	// Sealed are staging tokens that commits in progress are turning into
	// commits, newest first. Only the owner of the oldest one may move the
	// branch's head.
	Sealed []sealedToken `json:"sealed,omitempty"`
}

type sealedToken struct {
	Token    string    `json:"token"`
	SealedAt time.Time `json:"sealed_at"`
}

// tokens returns every staging token of the branch, newest first.
func (b *branchRecord) tokens() []string {
	out := []string{b.StagingToken}
	for _, s := range b.Sealed {
		out = append(out, s.Token)
	}
	return out
}

func (b *branchRecord) clone() *branchRecord {
	c := *b
	c.Sealed = slices.Clone(b.Sealed)
	return &c
}

func newToken() string { return strings.ToLower(ulid.Make().String()) }

func (g *Graph) getBranch(ctx context.Context, repo store.RepoID, id store.BranchID) (*branchRecord, []byte, error) {
	var b branchRecord
	raw, err := g.getJSON(ctx, repoPartition(repo), branchKey(id), &b)
	if err != nil {
		if isNotFound(err) {
			return nil, nil, fmt.Errorf("branch %q: %w", id, store.ErrBranchNotFound)
		}
		return nil, nil, wrapKV("get branch "+string(id), err)
	}
	return &b, raw, nil
}

// errKeep, returned by an update function, ends updateBranch without
// writing and without an error.
var errKeep = errors.New("keep branch as it is")

// updateBranch moves a branch by compare-and-swap: it reads the record, lets
// fn change a copy, and swaps it in if nobody changed the record meanwhile,
// retrying with jittered backoff at most Config.SwapRetries times. fn must
// be cheap and free of side effects: it runs once per attempt.
func (g *Graph) updateBranch(ctx context.Context, repo store.RepoID, id store.BranchID, fn func(b *branchRecord) error) (*branchRecord, error) {
	backoff := time.Millisecond
	for range g.cfg.SwapRetries {
		cur, raw, err := g.getBranch(ctx, repo, id)
		if err != nil {
			return nil, err
		}
		next := cur.clone()
		if err := fn(next); err != nil {
			if errors.Is(err, errKeep) {
				return cur, nil
			}
			return nil, err
		}
		err = g.kv.SetIf(ctx, repoPartition(repo), branchKey(id), mustJSON(next), raw)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, kv.ErrPredicateFailed) {
			return nil, wrapKV("update branch "+string(id), err)
		}
		if err := sleepCtx(ctx, backoff+rand.N(backoff)); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
	return nil, fmt.Errorf("update branch %s: %w", id, store.ErrTooManyRetries)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CreateBranch creates branch id at the commit source resolves to.
func (g *Graph) CreateBranch(ctx context.Context, repo store.RepoID, id store.BranchID, source store.Ref) (*Branch, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, err
	}
	r, err := g.resolve(ctx, repo, source)
	if err != nil {
		return nil, err
	}
	b := &branchRecord{CommitID: r.CommitID, StagingToken: newToken()}
	if err := g.kv.SetIf(ctx, repoPartition(repo), branchKey(id), mustJSON(b), nil); err != nil {
		if errors.Is(err, kv.ErrPredicateFailed) {
			return nil, fmt.Errorf("create branch %q: %w", id, store.ErrBranchExists)
		}
		return nil, wrapKV("create branch "+string(id), err)
	}
	return &Branch{ID: id, CommitID: r.CommitID}, nil
}

// GetBranch returns branch id.
func (g *Graph) GetBranch(ctx context.Context, repo store.RepoID, id store.BranchID) (*Branch, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, err
	}
	b, _, err := g.getBranch(ctx, repo, id)
	if err != nil {
		return nil, err
	}
	return &Branch{ID: id, CommitID: b.CommitID}, nil
}

// ListBranches returns up to amount branches whose ids sort after after.
func (g *Graph) ListBranches(ctx context.Context, repo store.RepoID, after string, amount int) ([]*Branch, bool, error) {
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, false, err
	}
	amount = pageSize(amount, defaultAmount)
	page, err := g.kv.Scan(ctx, repoPartition(repo), kv.ScanOptions{
		Prefix: branchPrefix, Start: startAfter(prefixed(branchPrefix, after)), Limit: amount + 1})
	if err != nil {
		return nil, false, wrapKV("list branches", err)
	}
	out := make([]*Branch, 0, min(len(page), amount))
	for _, e := range page[:min(len(page), amount)] {
		var b branchRecord
		if err := jsonUnmarshal(e.Value, &b); err != nil {
			return nil, false, err
		}
		out = append(out, &Branch{ID: store.BranchID(strings.TrimPrefix(e.Key, branchPrefix)), CommitID: b.CommitID})
	}
	return out, len(page) > amount, nil
}

func prefixed(prefix, after string) string {
	if after == "" {
		return ""
	}
	return prefix + after
}

// DeleteBranch removes branch id and its uncommitted changes. The default
// branch cannot be deleted.
func (g *Graph) DeleteBranch(ctx context.Context, repo store.RepoID, id store.BranchID) error {
	if err := id.Validate(); err != nil {
		return err
	}
	r, err := g.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	if r.DefaultBranch == id {
		return fmt.Errorf("delete branch %s: %w", id, store.ErrDeleteDefault)
	}
	b, raw, err := g.getBranch(ctx, repo, id)
	if err != nil {
		return err
	}
	if err := g.kv.DeleteIf(ctx, repoPartition(repo), branchKey(id), raw); err != nil {
		if errors.Is(err, kv.ErrPredicateFailed) {
			return fmt.Errorf("delete branch %s: changed concurrently: %w", id, store.ErrConflict)
		}
		return wrapKV("delete branch "+string(id), err)
	}
	g.dropTokens(ctx, repo, b.tokens()...)
	return nil
}

// ResetBranch drops all of the branch's uncommitted changes.
func (g *Graph) ResetBranch(ctx context.Context, repo store.RepoID, id store.BranchID) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return err
	}
	var old []string
	_, err := g.updateBranch(ctx, repo, id, func(b *branchRecord) error {
		old = b.tokens()
		b.StagingToken, b.Sealed = newToken(), nil
		return nil
	})
	if err != nil {
		return err
	}
	g.dropTokens(ctx, repo, old...)
	return nil
}

// HardResetBranch points branch id at the commit ref resolves to and drops
// its uncommitted changes.
func (g *Graph) HardResetBranch(ctx context.Context, repo store.RepoID, id store.BranchID, ref store.Ref) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return err
	}
	r, err := g.resolve(ctx, repo, ref)
	if err != nil {
		return err
	}
	var old []string
	_, err = g.updateBranch(ctx, repo, id, func(b *branchRecord) error {
		old = b.tokens()
		b.CommitID, b.StagingToken, b.Sealed = r.CommitID, newToken(), nil
		return nil
	})
	if err != nil {
		return err
	}
	g.dropTokens(ctx, repo, old...)
	return nil
}

// dropTokens removes the staging partitions of tokens nobody references
// any more. Failures only leave garbage behind, so they are logged.
func (g *Graph) dropTokens(ctx context.Context, repo store.RepoID, tokens ...string) {
	ctx = context.WithoutCancel(ctx)
	for _, t := range tokens {
		if err := g.kv.DropPartition(ctx, stagingPartition(repo, t)); err != nil {
			g.cfg.Logger.WarnContext(ctx, "drop staging token", "repository", repo, "token", t, "error", err)
		}
	}
}
