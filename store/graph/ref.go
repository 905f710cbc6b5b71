package graph

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// refModifier is one ~N (N-th first-parent ancestor) or ^N (N-th parent).
type refModifier struct {
	op byte // '~' or '^'
	n  int
}

// parsedRef is a reference expression taken apart.
type parsedRef struct {
	base          string
	committedOnly bool // trailing '@': a branch's head commit, without staging
	mods          []refModifier
}

var commitPrefixRe = regexp.MustCompile(`^[a-f0-9]{4,64}$`)

// parseRef splits a reference expression: base[@][(~|^)[N]]...
func parseRef(ref store.Ref) (parsedRef, error) {
	s := string(ref)
	i := strings.IndexAny(s, "~^")
	if i < 0 {
		i = len(s)
	}
	p := parsedRef{base: s[:i]}
	if strings.HasSuffix(p.base, "@") {
		p.base, p.committedOnly = strings.TrimSuffix(p.base, "@"), true
	}
	if p.base == "" || len(s) > 512 {
		return p, fmt.Errorf("%w %q", store.ErrInvalidRef, s)
	}
	rest := s[i:]
	for rest != "" {
		op := rest[0]
		rest = rest[1:]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		n := 1
		if j > 0 {
			v, err := strconv.Atoi(rest[:j])
			if err != nil || v > 1<<20 {
				return p, fmt.Errorf("%w %q: bad modifier", store.ErrInvalidRef, s)
			}
			n = v
		}
		if op != '~' && op != '^' {
			return p, fmt.Errorf("%w %q: unexpected %q", store.ErrInvalidRef, s, op)
		}
		p.mods = append(p.mods, refModifier{op: op, n: n})
		rest = rest[j:]
	}
	return p, nil
}

// ResolveRef resolves a reference expression to a commit.
func (g *Graph) ResolveRef(ctx context.Context, repo store.RepoID, ref store.Ref) (*ResolvedRef, error) {
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, err
	}
	return g.resolve(ctx, repo, ref)
}

func (g *Graph) resolve(ctx context.Context, repo store.RepoID, ref store.Ref) (*ResolvedRef, error) {
	p, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	r, err := g.resolveBase(ctx, repo, p)
	if err != nil {
		return nil, err
	}
	if len(p.mods) == 0 {
		return r, nil
	}
	id := r.CommitID
	for _, m := range p.mods {
		if id, err = g.walkModifier(ctx, repo, id, m); err != nil {
			return nil, fmt.Errorf("resolve %q: %w", ref, err)
		}
	}
	return &ResolvedRef{Type: RefTypeCommit, CommitID: id}, nil
}

func (g *Graph) walkModifier(ctx context.Context, repo store.RepoID, id store.CommitID, m refModifier) (store.CommitID, error) {
	if m.op == '^' {
		if m.n == 0 {
			return id, nil
		}
		c, err := g.getCommit(ctx, repo, id)
		if err != nil {
			return "", err
		}
		if m.n > len(c.Parents) {
			return "", fmt.Errorf("commit %s has no parent %d: %w", id, m.n, store.ErrRefNotFound)
		}
		return c.Parents[m.n-1], nil
	}
	for range m.n {
		c, err := g.getCommit(ctx, repo, id)
		if err != nil {
			return "", err
		}
		if len(c.Parents) == 0 {
			return "", fmt.Errorf("commit %s has no parent: %w", id, store.ErrRefNotFound)
		}
		id = c.Parents[0]
	}
	return id, nil
}

func (g *Graph) resolveBase(ctx context.Context, repo store.RepoID, p parsedRef) (*ResolvedRef, error) {
	if store.BranchID(p.base).Validate() == nil {
		b, _, err := g.getBranch(ctx, repo, store.BranchID(p.base))
		if err == nil {
			return &ResolvedRef{Type: RefTypeBranch, BranchID: store.BranchID(p.base), CommitID: b.CommitID,
				Staged: !p.committedOnly && len(p.mods) == 0}, nil
		}
		if !isNotFoundErr(err) {
			return nil, err
		}
	}
	if p.committedOnly {
		return nil, fmt.Errorf("branch %q: %w", p.base, store.ErrBranchNotFound)
	}
	if store.TagID(p.base).Validate() == nil {
		var t Tag
		_, err := g.getJSON(ctx, repoPartition(repo), tagKey(store.TagID(p.base)), &t)
		if err == nil {
			return &ResolvedRef{Type: RefTypeTag, CommitID: t.CommitID}, nil
		}
		if !isNotFound(err) {
			return nil, wrapKV("get tag", err)
		}
	}
	if commitPrefixRe.MatchString(p.base) {
		page, err := g.kv.Scan(ctx, repoPartition(repo), kv.ScanOptions{Prefix: commitPrefix + p.base, Limit: 2})
		if err != nil {
			return nil, wrapKV("find commit", err)
		}
		switch len(page) {
		case 1:
			return &ResolvedRef{Type: RefTypeCommit, CommitID: store.CommitID(strings.TrimPrefix(page[0].Key, commitPrefix))}, nil
		case 2:
			return nil, fmt.Errorf("%w %q: ambiguous commit id prefix", store.ErrInvalidRef, p.base)
		}
	}
	return nil, fmt.Errorf("reference %q: %w", p.base, store.ErrRefNotFound)
}

func isNotFoundErr(err error) bool { return errors.Is(err, store.ErrNotFound) }
