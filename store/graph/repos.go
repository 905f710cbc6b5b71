package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
)

// namespaceLockTTL is the lease of the lock LockNamespaces takes: far
// longer than a check of the namespaces and a creation take. The section
// under it ends, its context canceled, at half the lease, so that it
// writes nothing once another process could hold the lock.
const namespaceLockTTL = 30 * time.Second

// LockNamespaces takes the lock that serializes claims on storage
// locations (repository creations and continuous exports' destinations)
// across every process of the graph's store, so that a claim checked
// against the others cannot race a claim that overlaps it. It returns the
// context to run the section in, which ends before the lock's lease does,
// and the function that releases the lock.
func (g *Graph) LockNamespaces(ctx context.Context) (context.Context, func(), error) {
	unlock, err := kv.Lock(ctx, g.kv, locksPartition, "namespaces", namespaceLockTTL)
	if err != nil {
		return nil, nil, wrapKV("lock the storage namespaces", err)
	}
	lctx, cancel := context.WithTimeout(ctx, namespaceLockTTL/2)
	return lctx, func() { cancel(); unlock() }, nil
}

// CreateRepository creates repository id over storageNamespace, with branch
// defaultBranch pointing at an initial, empty commit. It validates every
// argument before it writes anything.
func (g *Graph) CreateRepository(ctx context.Context, id store.RepoID, storageNamespace string, defaultBranch store.BranchID) (*Repository, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if err := defaultBranch.Validate(); err != nil {
		return nil, err
	}
	ns, err := g.namespace(storageNamespace)
	if err != nil {
		return nil, err
	}
	if err := ensureBucket(ctx, storageNamespace, ns); err != nil {
		return nil, fmt.Errorf("create repository %s: %w", id, err)
	}
	repo := &Repository{ID: id, StorageNamespace: storageNamespace, DefaultBranch: defaultBranch, CreationDate: g.now()}
	if err := g.kv.SetIf(ctx, reposPartition, string(id), mustJSON(repo), nil); err != nil {
		if errors.Is(err, kv.ErrPredicateFailed) {
			return nil, fmt.Errorf("create repository %s: %w", id, store.ErrRepoExists)
		}
		return nil, wrapKV("create repository "+string(id), err)
	}
	if err := g.initRepository(ctx, repo, ns); err != nil {
		// Leave no half-made repository behind.
		ctx := context.WithoutCancel(ctx)
		_ = g.kv.DropPartition(ctx, repoPartition(id))
		_ = g.kv.Delete(ctx, reposPartition, string(id))
		return nil, fmt.Errorf("create repository %s: %w", id, err)
	}
	return repo, nil
}

func (g *Graph) initRepository(ctx context.Context, repo *Repository, ns tree.Namespace) error {
	empty, err := g.trees.EmptyMetaRange(ctx, ns)
	if err != nil {
		return err
	}
	c := &Commit{MetaRangeID: empty, Message: "Repository created", CreationDate: repo.CreationDate, Generation: 1}
	c.ID = commitID(c)
	if err := g.putCommit(ctx, repo.ID, c); err != nil {
		return err
	}
	b := &branchRecord{CommitID: c.ID, StagingToken: newToken()}
	return g.kv.SetIf(ctx, repoPartition(repo.ID), branchKey(repo.DefaultBranch), mustJSON(b), nil)
}

// GetRepository returns repository id.
func (g *Graph) GetRepository(ctx context.Context, id store.RepoID) (*Repository, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	var repo Repository
	if _, err := g.getJSON(ctx, reposPartition, string(id), &repo); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("repository %q: %w", id, store.ErrRepoNotFound)
		}
		return nil, wrapKV("get repository "+string(id), err)
	}
	return &repo, nil
}

// ListRepositories returns up to amount repositories whose ids sort after
// after, and whether more follow.
func (g *Graph) ListRepositories(ctx context.Context, after string, amount int) ([]*Repository, bool, error) {
	amount = pageSize(amount, defaultAmount)
	page, err := g.kv.Scan(ctx, reposPartition, kv.ScanOptions{Start: startAfter(after), Limit: amount + 1})
	if err != nil {
		return nil, false, wrapKV("list repositories", err)
	}
	out := make([]*Repository, 0, min(len(page), amount))
	for _, e := range page[:min(len(page), amount)] {
		var r Repository
		if err := jsonUnmarshal(e.Value, &r); err != nil {
			return nil, false, err
		}
		out = append(out, &r)
	}
	return out, len(page) > amount, nil
}

// DeleteRepository removes repository id and all its refs, commits and
// staged changes. Object data in its storage namespace is left for GC or
// the operator.
func (g *Graph) DeleteRepository(ctx context.Context, id store.RepoID) error {
	if _, err := g.GetRepository(ctx, id); err != nil {
		return err
	}
	if err := g.kv.Delete(ctx, reposPartition, string(id)); err != nil {
		return wrapKV("delete repository "+string(id), err)
	}
	// The repository is gone for readers; sweep its keys.
	it := kv.Scan(ctx, g.kv, repoPartition(id), branchPrefix, "", 0)
	for it.Next() {
		var b branchRecord
		if jsonUnmarshal(it.Entry().Value, &b) == nil {
			g.dropTokens(ctx, id, b.tokens()...)
		}
	}
	if err := it.Err(); err != nil {
		return wrapKV("delete repository "+string(id), err)
	}
	return wrapKVNil("delete repository "+string(id), g.kv.DropPartition(ctx, repoPartition(id)))
}

// repository returns the repository and the tree namespace of its storage.
func (g *Graph) repository(ctx context.Context, id store.RepoID) (*Repository, tree.Namespace, error) {
	repo, err := g.GetRepository(ctx, id)
	if err != nil {
		return nil, tree.Namespace{}, err
	}
	ns, err := g.namespace(repo.StorageNamespace)
	if err != nil {
		return nil, tree.Namespace{}, err
	}
	return repo, ns, nil
}

// namespace resolves a storage namespace URI to where lakeq's files go.
func (g *Graph) namespace(uri string) (tree.Namespace, error) {
	u, err := block.ParseURI(uri)
	if err != nil {
		return tree.Namespace{}, fmt.Errorf("%w %q: %v", store.ErrInvalidNamespace, uri, err)
	}
	t, err := g.blocks.Resolve(u)
	if err != nil {
		return tree.Namespace{}, fmt.Errorf("%w %q: %v", store.ErrInvalidNamespace, uri, err)
	}
	prefix := t.Key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return tree.Namespace{Store: t.Store, Bucket: t.Bucket, Prefix: prefix}, nil
}

// bucketMaker is a blockstore that can create buckets.
type bucketMaker interface {
	MakeBucket(ctx context.Context, bucket string) error
}

// ensureBucket checks that the namespace's bucket exists. An S3 bucket
// must exist already; a local one (a directory under the blockstore's
// root) is made.
func ensureBucket(ctx context.Context, uri string, ns tree.Namespace) error {
	ok, err := ns.Store.BucketExists(ctx, ns.Bucket)
	if err != nil {
		return fmt.Errorf("check namespace %q: %w", uri, err)
	}
	if ok {
		return nil
	}
	if m, canMake := ns.Store.(bucketMaker); canMake && strings.HasPrefix(uri, "local://") {
		return m.MakeBucket(ctx, ns.Bucket)
	}
	return fmt.Errorf("%w %q: bucket %q does not exist", store.ErrInvalidNamespace, uri, ns.Bucket)
}

// startAfter turns an exclusive "after" cursor into an inclusive scan start.
func startAfter(after string) string {
	if after == "" {
		return ""
	}
	return after + "\x00"
}

func wrapKVNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return wrapKV(op, err)
}
