package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// KV layout. Repository records share one partition; everything else of a
// repository lives in the repository's own partition, except staging, which
// has one partition per staging token so that dropping it is one call.
const (
	reposPartition = "repos"
	// locksPartition holds the graph's locks (LockNamespaces).
	locksPartition = "locks"
	branchPrefix   = "branches/"
	tagPrefix      = "tags/"
	commitPrefix   = "commits/"
)

func repoPartition(repo store.RepoID) string { return "repo/" + string(repo) }

func stagingPartition(repo store.RepoID, token string) string {
	return "staging/" + string(repo) + "/" + token
}

func branchKey(b store.BranchID) string { return branchPrefix + string(b) }
func tagKey(t store.TagID) string       { return tagPrefix + string(t) }
func commitKey(c store.CommitID) string { return commitPrefix + string(c) }
func stagingKey(path string) string     { return path }
func isNotFound(err error) bool         { return errors.Is(err, kv.ErrNotFound) }
func wrapKV(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }

// getJSON reads key into v and returns the raw bytes for a later SetIf.
func (g *Graph) getJSON(ctx context.Context, partition, key string, v any) ([]byte, error) {
	raw, err := g.kv.Get(ctx, partition, key)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("decode %s/%s: %w", partition, key, err)
	}
	return raw, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("graph: encode %T: %v", v, err))
	}
	return b
}

func jsonUnmarshal(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}
