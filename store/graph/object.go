package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// WriteOptions are the attributes of an object written through lakeq.
type WriteOptions struct {
	ContentType string
	Metadata    map[string]string
}

// PathError reports one path a batch operation could not handle.
type PathError struct {
	Path string
	Err  error
}

// NewPhysicalAddress returns a fresh address, relative to a storage
// namespace, for object data: data/<UTC hour>/<ULID>. Addresses are never
// reused or overwritten, and the time in them lets GC apply a minimum age.
func NewPhysicalAddress(now time.Time) string {
	return "data/" + now.UTC().Format("2006010215") + "/" + strings.ToLower(ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String())
}

// WriteObject stores r's bytes under a new physical address in the
// repository's namespace and stages them at path on branch.
func (g *Graph) WriteObject(ctx context.Context, repo store.RepoID, branch store.BranchID, path string, r io.Reader, size int64, opts WriteOptions) (*store.Entry, error) {
	if err := store.ValidatePath(path); err != nil {
		return nil, err
	}
	if err := branch.Validate(); err != nil {
		return nil, err
	}
	_, ns, err := g.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	if _, _, err := g.getBranch(ctx, repo, branch); err != nil {
		return nil, err
	}
	now := g.now()
	addr := NewPhysicalAddress(now)
	info, err := ns.Store.Put(ctx, ns.Bucket, ns.Prefix+addr, r, size, block.PutOptions{ContentType: opts.ContentType, Metadata: opts.Metadata})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	e := &store.Entry{Path: path, Address: addr, AddressType: store.AddressRelative, Size: info.Size,
		ETag: info.ETag, MTime: now, ContentType: opts.ContentType, Metadata: opts.Metadata}
	if err := g.stage(ctx, repo, branch, path, stagedValue{Entry: e}); err != nil {
		return nil, err
	}
	return e, nil
}

// StageObject stages e (whose data already exists at e.Address) at e.Path.
func (g *Graph) StageObject(ctx context.Context, repo store.RepoID, branch store.BranchID, e store.Entry) error {
	if err := store.ValidatePath(e.Path); err != nil {
		return err
	}
	if err := branch.Validate(); err != nil {
		return err
	}
	if e.Address == "" {
		return fmt.Errorf("%w: empty physical address", store.ErrInvalidValue)
	}
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return err
	}
	if e.MTime.IsZero() {
		e.MTime = g.now()
	}
	return g.stage(ctx, repo, branch, e.Path, stagedValue{Entry: &e})
}

// StatObject returns the entry at path as ref shows it.
func (g *Graph) StatObject(ctx context.Context, repo store.RepoID, ref store.Ref, path string) (*store.Entry, error) {
	if err := store.ValidatePath(path); err != nil {
		return nil, err
	}
	v, err := g.view(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	return g.viewGet(ctx, v, path)
}

// ReadObject opens the object at path as ref shows it; rng == nil reads it
// all. The caller closes the reader.
func (g *Graph) ReadObject(ctx context.Context, repo store.RepoID, ref store.Ref, path string, rng *block.Range) (io.ReadCloser, *store.Entry, error) {
	if err := store.ValidatePath(path); err != nil {
		return nil, nil, err
	}
	v, err := g.view(ctx, repo, ref)
	if err != nil {
		return nil, nil, err
	}
	e, err := g.viewGet(ctx, v, path)
	if err != nil {
		return nil, nil, err
	}
	t, err := g.physical(v, e)
	if err != nil {
		return nil, nil, err
	}
	rc, info, err := t.Store.Get(ctx, t.Bucket, t.Key, rng)
	if errors.Is(err, block.ErrInvalidRange) && rng != nil && rng.Offset >= 0 && rng.Offset < e.Size {
		// A range of the entry that the bytes at its address no longer
		// hold: they shrank.
		return nil, nil, fmt.Errorf("read %s: %w: %s no longer holds the entry's %d bytes", path, store.ErrObjectChanged, e.Address, e.Size)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	// A size of -1 is unknown (an answer without a length).
	if info.Size >= 0 && info.Size != e.Size {
		// The bytes at the address are no longer the entry's: an
		// imported object rewritten at its source. Serving them would
		// break the length the entry promises.
		rc.Close()
		return nil, nil, fmt.Errorf("read %s: %w: %s holds %d bytes, the entry %d", path, store.ErrObjectChanged, e.Address, info.Size, e.Size)
	}
	return rc, e, nil
}

// physical resolves where an entry's bytes live.
func (g *Graph) physical(v *view, e *store.Entry) (block.Target, error) {
	return g.PhysicalTarget(v.ns.Store, v.ns.Bucket, v.ns.Prefix, e)
}

// PhysicalTarget resolves where an entry's bytes live, given the storage
// namespace the entry's repository writes to.
func (g *Graph) PhysicalTarget(nsStore block.Store, bucket, prefix string, e *store.Entry) (block.Target, error) {
	if e.AddressType == store.AddressRelative {
		return block.Target{Store: nsStore, Bucket: bucket, Key: prefix + e.Address}, nil
	}
	u, err := block.ParseURI(e.Address)
	if err != nil {
		return block.Target{}, fmt.Errorf("entry %s: %w", e.Path, err)
	}
	return g.blocks.Resolve(u)
}

// PresignGet returns a URL that reads the object at path without lakeq's
// credentials, where the storage supports it.
func (g *Graph) PresignGet(ctx context.Context, repo store.RepoID, ref store.Ref, path string, expiry time.Duration) (string, error) {
	v, err := g.view(ctx, repo, ref)
	if err != nil {
		return "", err
	}
	e, err := g.viewGet(ctx, v, path)
	if err != nil {
		return "", err
	}
	t, err := g.physical(v, e)
	if err != nil {
		return "", err
	}
	return t.Store.PresignGet(ctx, t.Bucket, t.Key, expiry)
}

// DeleteObject stages the deletion of path on branch.
func (g *Graph) DeleteObject(ctx context.Context, repo store.RepoID, branch store.BranchID, path string) error {
	if err := store.ValidatePath(path); err != nil {
		return err
	}
	if _, err := g.StatObject(ctx, repo, store.Ref(branch), path); err != nil {
		return err
	}
	return g.stage(ctx, repo, branch, path, stagedValue{Deleted: true})
}

// DeleteObjects stages the deletion of each path; absent paths are not
// errors (as in S3's batch delete).
func (g *Graph) DeleteObjects(ctx context.Context, repo store.RepoID, branch store.BranchID, paths []string) ([]PathError, error) {
	if _, err := g.GetBranch(ctx, repo, branch); err != nil {
		return nil, err
	}
	var errs []PathError
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return errs, err
		}
		err := g.DeleteObject(ctx, repo, branch, p)
		if err != nil && !isNotFoundErr(err) {
			errs = append(errs, PathError{Path: p, Err: err})
		}
	}
	return errs, nil
}

// ResetPath drops the uncommitted change of path (or, with isPrefix, of
// every path under it) on branch.
func (g *Graph) ResetPath(ctx context.Context, repo store.RepoID, branch store.BranchID, path string, isPrefix bool) error {
	if err := branch.Validate(); err != nil {
		return err
	}
	if !isPrefix {
		if err := store.ValidatePath(path); err != nil {
			return err
		}
	}
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return err
	}
	b, _, err := g.getBranch(ctx, repo, branch)
	if err != nil {
		return err
	}
	part := stagingPartition(repo, b.StagingToken)
	if !isPrefix {
		return wrapKVNil("reset "+path, g.kv.Delete(ctx, part, stagingKey(path)))
	}
	it := g.newStagedIter(ctx, repo, []string{b.StagingToken}, path)
	for it.Next() {
		if err := g.kv.Delete(ctx, part, it.Change().Path); err != nil {
			return wrapKV("reset "+path, err)
		}
	}
	return it.Err()
}

// ListObjects returns a page of the objects under opts.Prefix as ref shows
// them; with a delimiter, deeper paths are folded into common prefixes.
func (g *Graph) ListObjects(ctx context.Context, repo store.RepoID, ref store.Ref, opts ListOptions) ([]ListItem, bool, error) {
	if err := store.ValidatePrefix(opts.Prefix); err != nil {
		return nil, false, err
	}
	v, err := g.view(ctx, repo, ref)
	if err != nil {
		return nil, false, err
	}
	it, err := g.viewIter(ctx, v, opts.Prefix)
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	amount := pageSize(opts.Amount, defaultAmount)
	if opts.After != "" && opts.After >= opts.Prefix {
		it.SeekGE(opts.After + "\x00")
	}
	var out []ListItem
	for it.Next() {
		e := new(store.Entry)
		*e = *it.Entry() // iterators reuse their entry on Next
		if !strings.HasPrefix(e.Path, opts.Prefix) {
			break
		}
		if e.Path <= opts.After {
			continue
		}
		item := ListItem{Path: e.Path, Entry: e}
		if opts.Delimiter != "" {
			if i := strings.Index(e.Path[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				cp := e.Path[:len(opts.Prefix)+i+len(opts.Delimiter)]
				it.SeekGE(successor(cp))
				if cp <= opts.After {
					continue
				}
				item = ListItem{Path: cp, IsPrefix: true}
			}
		}
		if len(out) == amount {
			return out, true, it.Err()
		}
		out = append(out, item)
	}
	return out, false, it.Err()
}

// successor returns the smallest string greater than every string that
// has p as a prefix.
func successor(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return p + "\xff" // unreachable for valid UTF-8 paths
}
