package graph

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
)

// commitID is the SHA-256 of the commit's canonical fields: parents,
// metarange id, message, committer, metadata (sorted by key) and creation
// time, each length-prefixed.
func commitID(c *Commit) store.CommitID {
	h := sha256.New()
	writeField(h, "lakeq-commit-v1")
	writeUint(h, uint64(len(c.Parents)))
	for _, p := range c.Parents {
		writeField(h, string(p))
	}
	writeField(h, string(c.MetaRangeID))
	writeField(h, c.Message)
	writeField(h, c.Committer)
	keys := make([]string, 0, len(c.Metadata))
	for k := range c.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	writeUint(h, uint64(len(keys)))
	for _, k := range keys {
		writeField(h, k)
		writeField(h, c.Metadata[k])
	}
	writeField(h, c.CreationDate.UTC().Format(time.RFC3339Nano))
	return store.CommitID(hex.EncodeToString(h.Sum(nil)))
}

func writeUint(h hash.Hash, n uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	h.Write(b[:])
}

func writeField(h hash.Hash, s string) {
	writeUint(h, uint64(len(s)))
	h.Write([]byte(s))
}

func (g *Graph) putCommit(ctx context.Context, repo store.RepoID, c *Commit) error {
	err := g.kv.SetIf(ctx, repoPartition(repo), commitKey(c.ID), mustJSON(c), nil)
	if err != nil && !errors.Is(err, kv.ErrPredicateFailed) { // same id, same content
		return wrapKV("save commit "+string(c.ID), err)
	}
	return nil
}

func (g *Graph) getCommit(ctx context.Context, repo store.RepoID, id store.CommitID) (*Commit, error) {
	var c Commit
	if _, err := g.getJSON(ctx, repoPartition(repo), commitKey(id), &c); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("commit %q: %w", id, store.ErrCommitNotFound)
		}
		return nil, wrapKV("get commit "+string(id), err)
	}
	return &c, nil
}

// GetCommit returns the commit ref resolves to.
func (g *Graph) GetCommit(ctx context.Context, repo store.RepoID, ref store.Ref) (*Commit, error) {
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, err
	}
	r, err := g.resolve(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	return g.getCommit(ctx, repo, r.CommitID)
}

func newCommit(parents []*Commit, params CommitParams, now time.Time) *Commit {
	c := &Commit{
		Message:      params.Message,
		Committer:    params.Committer,
		Metadata:     params.Metadata,
		CreationDate: now,
		Generation:   1,
	}
	if !params.Date.IsZero() {
		c.CreationDate = params.Date.UTC()
	}
	for _, p := range parents {
		c.Parents = append(c.Parents, p.ID)
		c.Generation = max(c.Generation, p.Generation+1)
	}
	return c
}

// errRebuild makes a committer build its tree again on a head that moved.
var errRebuild = errors.New("branch head moved")

// Commit turns the branch's uncommitted changes into a new commit.
//
// Protocol: the committer first seals the branch's staging token (new
// writes go to a fresh token), then waits until its token is the oldest
// sealed one — commits of one branch finish in the order they sealed — and
// builds its tree on the current head, outside any lock. It then moves the
// branch by compare-and-swap, provided the head is still the one it built
// on; if the head moved (a merge, a revert), it builds again. Sealing and
// the final swap retry only the cheap pointer update. A committer that died
// after sealing is presumed dead after Config.SealLease, and the next
// commit takes its changes over, so nothing staged is ever lost.
func (g *Graph) Commit(ctx context.Context, repo store.RepoID, branch store.BranchID, params CommitParams) (*Commit, error) {
	if err := branch.Validate(); err != nil {
		return nil, err
	}
	_, ns, err := g.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	var mine string
	if _, err := g.updateBranch(ctx, repo, branch, func(b *branchRecord) error {
		mine = b.StagingToken
		b.Sealed = append([]sealedToken{{Token: mine, SealedAt: g.now()}}, b.Sealed...)
		b.StagingToken = newToken()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("commit %s: seal: %w", branch, err)
	}
	tokens, err := g.awaitTurn(ctx, repo, branch, mine)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", branch, err)
	}
	for range g.cfg.SwapRetries {
		c, err := g.commitTokens(ctx, repo, ns, branch, tokens, params)
		if errors.Is(err, errRebuild) {
			continue
		}
		if err == nil || errors.Is(err, store.ErrNoChanges) {
			g.dropTokens(ctx, repo, tokens...)
		}
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", branch, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("commit %s: %w", branch, store.ErrTooManyRetries)
}

// awaitTurn waits until token mine is the oldest sealed token of the
// branch, and returns the tokens this commit is to commit, newest first:
// its own and those of older committers whose lease ran out.
func (g *Graph) awaitTurn(ctx context.Context, repo store.RepoID, branch store.BranchID, mine string) ([]string, error) {
	backoff := time.Millisecond
	for {
		b, _, err := g.getBranch(ctx, repo, branch)
		if err != nil {
			return nil, err
		}
		idx := slices.IndexFunc(b.Sealed, func(s sealedToken) bool { return s.Token == mine })
		if idx < 0 {
			return nil, fmt.Errorf("staged changes were reset or taken over: %w", store.ErrConflict)
		}
		older := b.Sealed[idx+1:]
		stale := !slices.ContainsFunc(older, func(s sealedToken) bool { return g.now().Sub(s.SealedAt) < g.cfg.SealLease })
		if len(older) == 0 || stale {
			if len(older) > 0 {
				g.cfg.Logger.WarnContext(ctx, "commit takes over changes of an unfinished commit", "repository", repo, "branch", branch, "tokens", len(older))
			}
			out := make([]string, 0, len(b.Sealed)-idx)
			for _, s := range b.Sealed[idx:] {
				out = append(out, s.Token)
			}
			return out, nil
		}
		if err := sleepCtx(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
}

// hasTail reports whether tokens (newest first) are the oldest sealed
// tokens of b.
func hasTail(b *branchRecord, tokens []string) bool {
	if len(b.Sealed) < len(tokens) {
		return false
	}
	tail := b.Sealed[len(b.Sealed)-len(tokens):]
	for i, t := range tokens {
		if tail[i].Token != t {
			return false
		}
	}
	return true
}

// commitTokens builds the tree of head + tokens and swaps the branch to a
// commit of it. It returns errRebuild when the head moved meanwhile.
func (g *Graph) commitTokens(ctx context.Context, repo store.RepoID, ns tree.Namespace, branch store.BranchID, tokens []string, params CommitParams) (*Commit, error) {
	b, _, err := g.getBranch(ctx, repo, branch)
	if err != nil {
		return nil, err
	}
	if !hasTail(b, tokens) {
		return nil, fmt.Errorf("staged changes were reset or taken over: %w", store.ErrConflict)
	}
	head, err := g.getCommit(ctx, repo, b.CommitID)
	if err != nil {
		return nil, err
	}
	changes := g.newStagedIter(ctx, repo, tokens, "")
	mr, err := g.trees.Apply(ctx, ns, head.MetaRangeID, changes, nil)
	if err != nil {
		return nil, fmt.Errorf("write tree: %w", err)
	}
	var c *Commit
	if mr != head.MetaRangeID || params.AllowEmpty {
		c = newCommit([]*Commit{head}, params, g.now())
		c.MetaRangeID = mr
		c.ID = commitID(c)
		if err := g.putCommit(ctx, repo, c); err != nil {
			return nil, err
		}
	}
	_, err = g.updateBranch(ctx, repo, branch, func(nb *branchRecord) error {
		if !hasTail(nb, tokens) {
			return fmt.Errorf("staged changes were reset or taken over: %w", store.ErrConflict)
		}
		if c != nil && nb.CommitID != head.ID {
			return errRebuild
		}
		if c != nil {
			nb.CommitID = c.ID
		}
		nb.Sealed = nb.Sealed[:len(nb.Sealed)-len(tokens)]
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, store.ErrNoChanges
	}
	return c, nil
}
