package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// CreateTag names the commit ref resolves to. Tags never move.
func (g *Graph) CreateTag(ctx context.Context, repo store.RepoID, id store.TagID, ref store.Ref) (*Tag, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, err
	}
	r, err := g.resolve(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	t := &Tag{ID: id, CommitID: r.CommitID}
	if err := g.kv.SetIf(ctx, repoPartition(repo), tagKey(id), mustJSON(t), nil); err != nil {
		if errors.Is(err, kv.ErrPredicateFailed) {
			return nil, fmt.Errorf("create tag %q: %w", id, store.ErrTagExists)
		}
		return nil, wrapKV("create tag", err)
	}
	return t, nil
}

// GetTag returns tag id.
func (g *Graph) GetTag(ctx context.Context, repo store.RepoID, id store.TagID) (*Tag, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, err
	}
	var t Tag
	if _, err := g.getJSON(ctx, repoPartition(repo), tagKey(id), &t); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("tag %q: %w", id, store.ErrTagNotFound)
		}
		return nil, wrapKV("get tag", err)
	}
	return &t, nil
}

// ListTags returns up to amount tags whose ids sort after after.
func (g *Graph) ListTags(ctx context.Context, repo store.RepoID, after string, amount int) ([]*Tag, bool, error) {
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, false, err
	}
	amount = pageSize(amount, defaultAmount)
	page, err := g.kv.Scan(ctx, repoPartition(repo), kv.ScanOptions{
		Prefix: tagPrefix, Start: startAfter(prefixed(tagPrefix, after)), Limit: amount + 1})
	if err != nil {
		return nil, false, wrapKV("list tags", err)
	}
	out := make([]*Tag, 0, min(len(page), amount))
	for _, e := range page[:min(len(page), amount)] {
		var t Tag
		if err := jsonUnmarshal(e.Value, &t); err != nil {
			return nil, false, err
		}
		t.ID = store.TagID(strings.TrimPrefix(e.Key, tagPrefix))
		out = append(out, &t)
	}
	return out, len(page) > amount, nil
}

// DeleteTag removes tag id.
func (g *Graph) DeleteTag(ctx context.Context, repo store.RepoID, id store.TagID) error {
	if _, err := g.GetTag(ctx, repo, id); err != nil {
		return err
	}
	return wrapKVNil("delete tag", g.kv.Delete(ctx, repoPartition(repo), tagKey(id)))
}
