package graph

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
)

// stagedValue is an uncommitted change: an entry, or a tombstone.
type stagedValue struct {
	Deleted bool         `json:"deleted,omitempty"`
	Entry   *store.Entry `json:"entry,omitempty"`
}

// stage writes one uncommitted change to the branch. A commit may seal the
// staging token between reading the branch and writing; then the write is
// repeated under the new token, so that no change is lost: it is either in
// the commit that sealed the token or staged on top of it.
func (g *Graph) stage(ctx context.Context, repo store.RepoID, branch store.BranchID, path string, v stagedValue) error {
	raw := mustJSON(v)
	b, _, err := g.getBranch(ctx, repo, branch)
	if err != nil {
		return err
	}
	for range g.cfg.SwapRetries {
		if err := g.kv.Set(ctx, stagingPartition(repo, b.StagingToken), stagingKey(path), raw); err != nil {
			return wrapKV("stage "+path, err)
		}
		after, _, err := g.getBranch(ctx, repo, branch)
		if err != nil {
			return err
		}
		if after.StagingToken == b.StagingToken {
			return nil
		}
		b = after
	}
	return fmt.Errorf("stage %s: %w", path, store.ErrTooManyRetries)
}

// lookup returns the entry at path as the branch shows it: the newest staged
// change, else the head commit's tree.
func (g *Graph) lookup(ctx context.Context, repo store.RepoID, ns tree.Namespace, b *branchRecord, path string) (*store.Entry, error) {
	for _, t := range b.tokens() {
		raw, err := g.kv.Get(ctx, stagingPartition(repo, t), stagingKey(path))
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, wrapKV("read staging", err)
		}
		var v stagedValue
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decode staged %q: %w", path, err)
		}
		if v.Deleted || v.Entry == nil {
			return nil, fmt.Errorf("%q: %w", path, store.ErrObjectNotFound)
		}
		return v.Entry, nil
	}
	c, err := g.getCommit(ctx, repo, b.CommitID)
	if err != nil {
		return nil, err
	}
	return g.trees.Get(ctx, ns, c.MetaRangeID, path)
}

// stagedIter merges the staging partitions of several tokens, newest first:
// for a path staged under more than one token, the newest change wins.
type stagedIter struct {
	its   []*kv.Iterator
	heads []*kv.Entry
	init  bool
	cur   tree.Change
	err   error
}

func (g *Graph) newStagedIter(ctx context.Context, repo store.RepoID, tokens []string, prefix string) *stagedIter {
	s := &stagedIter{}
	for _, t := range tokens {
		s.its = append(s.its, kv.Scan(ctx, g.kv, stagingPartition(repo, t), prefix, "", 0))
	}
	s.heads = make([]*kv.Entry, len(s.its))
	return s
}

func (s *stagedIter) fill(i int) {
	s.heads[i] = nil
	if s.its[i].Next() {
		e := s.its[i].Entry()
		s.heads[i] = &e
	} else if err := s.its[i].Err(); err != nil && s.err == nil {
		s.err = err
	}
}

// Next advances to the next staged path.
func (s *stagedIter) Next() bool {
	if !s.init {
		for i := range s.its {
			s.fill(i)
		}
		s.init = true
	}
	if s.err != nil {
		return false
	}
	win := -1
	for i, h := range s.heads {
		if h != nil && (win < 0 || h.Key < s.heads[win].Key) {
			win = i
		}
	}
	if win < 0 {
		return false
	}
	key, raw := s.heads[win].Key, s.heads[win].Value
	for i, h := range s.heads {
		if h != nil && h.Key == key {
			s.fill(i)
		}
	}
	var v stagedValue
	if err := json.Unmarshal(raw, &v); err != nil {
		s.err = fmt.Errorf("decode staged %q: %w", key, err)
		return false
	}
	s.cur = tree.Change{Path: key}
	if !v.Deleted {
		s.cur.Entry = v.Entry
	}
	return s.err == nil
}

// Change returns the current change; Entry is nil for a deletion.
func (s *stagedIter) Change() *tree.Change { return &s.cur }

// SeekGE repositions every token's scan at the first path >= path.
func (s *stagedIter) SeekGE(path string) {
	for _, it := range s.its {
		it.SeekGE(path)
	}
	s.init = false
}

func (s *stagedIter) Err() error { return s.err }
func (s *stagedIter) Close()     {}

// entryIter is what listings walk: tree iterators and overlays alike.
type entryIter interface {
	Next() bool
	Entry() *store.Entry
	SeekGE(path string)
	Err() error
	Close()
}

// overlayIter shows a committed tree with staged changes on top.
type overlayIter struct {
	base   entryIter
	staged *stagedIter
	bHead  *store.Entry
	sHead  *tree.Change
	init   bool
	cur    *store.Entry
}

func (o *overlayIter) advBase() {
	o.bHead = nil
	if o.base.Next() {
		e := *o.base.Entry() // the base reuses its entry on Next
		o.bHead = &e
	}
}

func (o *overlayIter) advStaged() {
	o.sHead = nil
	if o.staged.Next() {
		c := *o.staged.Change()
		o.sHead = &c
	}
}

func (o *overlayIter) Next() bool {
	if !o.init {
		o.advBase()
		o.advStaged()
		o.init = true
	}
	for o.Err() == nil {
		switch {
		case o.bHead == nil && o.sHead == nil:
			return false
		case o.sHead == nil || (o.bHead != nil && o.bHead.Path < o.sHead.Path):
			o.cur = o.bHead
			o.advBase()
			return true
		default:
			ch := o.sHead
			if o.bHead != nil && o.bHead.Path == ch.Path {
				o.advBase()
			}
			o.advStaged()
			if ch.Entry != nil {
				o.cur = ch.Entry
				return true
			}
		}
	}
	return false
}

func (o *overlayIter) Entry() *store.Entry { return o.cur }

func (o *overlayIter) SeekGE(path string) {
	o.base.SeekGE(path)
	o.staged.SeekGE(path)
	o.init = false
}

func (o *overlayIter) Err() error {
	if err := o.base.Err(); err != nil {
		return err
	}
	return o.staged.Err()
}

func (o *overlayIter) Close() {
	o.base.Close()
	o.staged.Close()
}
