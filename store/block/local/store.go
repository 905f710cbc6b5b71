// Package local implements block.Store over a directory tree, for `lakeq
// up` and for imports and exports from local paths.
//
// Layout: the store is rooted at a directory; bucket "" is the root itself
// and any other bucket is a top-level directory under it. An object is a
// plain file at <root>/<bucket>/<key>, so that files placed there by other
// means can be read (imported) and exported files are ordinary files.
//
// Safety: every file operation goes through an os.Root, so no key, symbolic
// link or ".." can reach outside the root. Keys are relative file paths:
// besides block.ValidateKey they may not start or end with '/', and may not
// contain empty, "." or ".." segments or a segment over 255 bytes (the
// filesystem's limit on a file name); such keys fail with
// block.ErrInvalidKey. A key cannot be both an object and a directory of
// other keys ("a" and "a/b"): the second Put fails with block.ErrInvalidKey
// naming the conflict. Only regular files are objects; symbolic links and
// other special files are neither listed nor read.
//
// Writes are atomic: Put streams into a temporary file under
// <root>/.lakeq/tmp, syncs it and renames it into place, so readers never
// see a partial object. The root must therefore be one filesystem (a bucket
// that is a separate mount point cannot be written). Put records the
// content type, user metadata and ETag (the MD5 of the content, as S3
// reports for a single-part upload) in a sidecar file in a mirror tree
// under <root>/.lakeq/meta. The name ".lakeq" is reserved: it is not a valid
// bucket nor a first key segment of bucket "", and List never shows it. A
// file without a matching sidecar (written by other means, or changed since)
// reports an ETag derived from its size, modification time and inode, and
// content type application/octet-stream.
//
// The store is safe for concurrent use within one process; two processes
// writing the same root at the same time may leave a sidecar that no longer
// matches its file (then it is ignored, as above).
package local

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// numLocks is the number of lock stripes that serialise writers (and
// readers) of the same key.
const numLocks = 64

// Store is a block.Store over a directory tree. It is safe for concurrent
// use.
type Store struct {
	dir   string
	root  *os.Root
	locks [numLocks]sync.RWMutex
}

var _ block.Store = (*Store)(nil)

// New opens the store rooted at dir, which must be an existing directory.
// Nothing is written until the first Put.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local: root %q: %w", dir, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("local: open root %q: %w", abs, err)
	}
	return &Store{dir: abs, root: root}, nil
}

// Dir returns the absolute path of the store's root.
func (s *Store) Dir() string { return s.dir }

// Close releases the root directory handle. The store is unusable after.
func (s *Store) Close() error { return s.root.Close() }

// MakeBucket creates the top-level directory bucket; an existing one is not
// an error.
func (s *Store) MakeBucket(ctx context.Context, bucket string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateBucket(bucket); err != nil {
		return err
	}
	if bucket == "" {
		return nil
	}
	if err := s.root.Mkdir(bucket, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("local: make bucket %q: %w", bucket, err)
	}
	return s.checkBucket(bucket)
}

// BucketExists reports whether bucket is "" or an existing top-level
// directory.
func (s *Store) BucketExists(ctx context.Context, bucket string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := validateBucket(bucket); err != nil {
		return false, err
	}
	err := s.checkBucket(bucket)
	if errors.Is(err, block.ErrBucketNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Put writes r to bucket/key atomically (see the package comment). With
// size >= 0 exactly size bytes are read, and a shorter body is an error
// wrapping store.ErrInvalid; nothing is then written.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, opts block.PutOptions) (block.ObjectInfo, error) {
	meta, err := s.checkWrite(ctx, bucket, key, opts)
	if err != nil {
		return block.ObjectInfo{}, err
	}
	tmp, f, err := s.createTemp()
	if err != nil {
		return block.ObjectInfo{}, fmt.Errorf("local: put %s/%s: %w", bucket, key, err)
	}
	committed := false
	defer func() {
		if !committed {
			s.root.Remove(tmp)
		}
	}()

	h := md5.New()
	src := r
	if size >= 0 {
		src = io.LimitReader(r, size)
	}
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: src})
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("%w: body has %d bytes, want %d", store.ErrInvalid, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	var fi fs.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return block.ObjectInfo{}, fmt.Errorf("local: put %s/%s: %w", bucket, key, err)
	}

	id := idOf(fi)
	sc := &sidecar{Size: id.size, MTime: id.mtime, Inode: id.inode,
		ETag: hex.EncodeToString(h.Sum(nil)), ContentType: opts.ContentType, Metadata: meta}
	rel := relPath(bucket, key)
	if err := s.commit(ctx, tmp, rel, sc); err != nil {
		if isConflict(err) {
			return block.ObjectInfo{}, fmt.Errorf("local: put %s/%s: %w", bucket, key, conflictError(key, err))
		}
		return block.ObjectInfo{}, fmt.Errorf("local: put %s/%s: %w", bucket, key, err)
	}
	committed = true
	return objectInfo(bucket, key, fi, sc, true), nil
}

// checkWrite validates a Put's arguments and returns its normalized
// metadata.
func (s *Store) checkWrite(ctx context.Context, bucket, key string, opts block.PutOptions) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateBucket(bucket); err != nil {
		return nil, err
	}
	if err := validateKey(bucket, key); err != nil {
		return nil, err
	}
	meta, err := block.NormalizeMetadata(opts.Metadata)
	if err != nil {
		return nil, err
	}
	if err := s.checkBucket(bucket); err != nil {
		return nil, err
	}
	return meta, nil
}

// commit moves the finished temporary file tmp to rel and records its
// sidecar, under rel's lock.
func (s *Store) commit(ctx context.Context, tmp, rel string, sc *sidecar) error {
	mu := &s.locks[lockIndex(rel)]
	mu.Lock()
	defer mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.placeFile(tmp, rel); err != nil {
		if !errors.Is(err, syscall.EISDIR) && !errors.Is(err, syscall.EEXIST) && !errors.Is(err, syscall.ENOTEMPTY) {
			return err
		}
		// An empty directory left where the object goes (by a crash, or by
		// hand) is removed; a non-empty one is a real conflict.
		if rerr := s.root.Remove(rel); rerr != nil {
			return err
		}
		if err := s.placeFile(tmp, rel); err != nil {
			return err
		}
	}
	if err := s.writeSidecar(rel, sc); err != nil {
		// The object is in place; without its sidecar it reads as a file
		// written by other means. Report the failure all the same.
		return fmt.Errorf("record metadata: %w", err)
	}
	return nil
}

// placeFile renames tmp to dst, creating dst's parent directories. A
// concurrent Delete may prune a parent just created; that is retried.
func (s *Store) placeFile(tmp, dst string) error {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if parent := parentDir(dst); parent != "." {
			if err = s.root.MkdirAll(parent, 0o755); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
		}
		err = s.root.Rename(tmp, dst)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// createTemp creates a new empty file under .lakeq/tmp.
func (s *Store) createTemp() (string, *os.File, error) {
	if err := s.root.MkdirAll(tmpDir, 0o755); err != nil {
		return "", nil, err
	}
	for {
		var b [12]byte
		rand.Read(b[:])
		name := tmpDir + "/" + hex.EncodeToString(b[:])
		f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, f, err
	}
}

// Get opens bucket/key, or the bytes rng selects. A range must start inside
// the object (0 <= Offset < Size), else the error wraps
// block.ErrInvalidRange; Length past the end reads to the end.
func (s *Store) Get(ctx context.Context, bucket, key string, rng *block.Range) (io.ReadCloser, block.ObjectInfo, error) {
	if err := s.checkRead(ctx, bucket, key); err != nil {
		return nil, block.ObjectInfo{}, err
	}
	rel := relPath(bucket, key)
	mu := &s.locks[lockIndex(rel)]
	mu.RLock()
	f, info, err := s.open(bucket, key, rel)
	mu.RUnlock()
	if err != nil {
		return nil, block.ObjectInfo{}, err
	}
	if rng == nil {
		return f, info, nil
	}
	if rng.Offset < 0 || rng.Offset >= info.Size {
		f.Close()
		return nil, block.ObjectInfo{}, fmt.Errorf("local: get %s/%s: %w: offset %d of a %d-byte object", bucket, key, block.ErrInvalidRange, rng.Offset, info.Size)
	}
	n := info.Size - rng.Offset
	if rng.Length >= 0 && rng.Length < n {
		n = rng.Length
	}
	return sectionReadCloser{SectionReader: io.NewSectionReader(f, rng.Offset, n), f: f}, info, nil
}

// open opens rel as an object and describes it; the caller holds rel's
// lock.
func (s *Store) open(bucket, key, rel string) (*os.File, block.ObjectInfo, error) {
	if _, err := s.statRegular(bucket, key, rel); err != nil {
		return nil, block.ObjectInfo{}, err
	}
	f, err := s.root.Open(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, block.ObjectInfo{}, fmt.Errorf("local: %s/%s: %w", bucket, key, block.ErrNotFound)
		}
		return nil, block.ObjectInfo{}, fmt.Errorf("local: get %s/%s: %w", bucket, key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, block.ObjectInfo{}, fmt.Errorf("local: get %s/%s: %w", bucket, key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, block.ObjectInfo{}, fmt.Errorf("local: %s/%s: %w", bucket, key, block.ErrNotFound)
	}
	return f, objectInfo(bucket, key, fi, s.readSidecar(rel, idOf(fi)), true), nil
}

func (s *Store) checkRead(ctx context.Context, bucket, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateBucket(bucket); err != nil {
		return err
	}
	return validateKey(bucket, key)
}

// Stat describes bucket/key.
func (s *Store) Stat(ctx context.Context, bucket, key string) (block.ObjectInfo, error) {
	if err := s.checkRead(ctx, bucket, key); err != nil {
		return block.ObjectInfo{}, err
	}
	rel := relPath(bucket, key)
	mu := &s.locks[lockIndex(rel)]
	mu.RLock()
	defer mu.RUnlock()
	fi, err := s.statRegular(bucket, key, rel)
	if err != nil {
		return block.ObjectInfo{}, err
	}
	return objectInfo(bucket, key, fi, s.readSidecar(rel, idOf(fi)), true), nil
}

// Copy copies srcBucket/srcKey to dstBucket/dstKey by reading the file into
// a new one, with the same content type and metadata.
func (s *Store) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (block.ObjectInfo, error) {
	rc, info, err := s.Get(ctx, srcBucket, srcKey, nil)
	if err != nil {
		return block.ObjectInfo{}, err
	}
	defer rc.Close()
	return s.Put(ctx, dstBucket, dstKey, rc, info.Size, block.PutOptions{ContentType: info.ContentType, Metadata: info.Metadata})
}

// Delete removes bucket/key and the directories that it leaves empty;
// deleting an absent object is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := s.checkRead(ctx, bucket, key); err != nil {
		return err
	}
	if err := s.checkBucket(bucket); err != nil {
		return err
	}
	return s.delete(bucket, key)
}

func (s *Store) delete(bucket, key string) error {
	rel := relPath(bucket, key)
	mu := &s.locks[lockIndex(rel)]
	mu.Lock()
	defer mu.Unlock()
	fi, err := s.root.Lstat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return fmt.Errorf("local: delete %s/%s: %w", bucket, key, err)
	case fi.IsDir():
		// A directory is not an object: nothing to delete.
		return nil
	}
	if err := s.root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local: delete %s/%s: %w", bucket, key, err)
	}
	s.removeSidecar(rel)
	s.prune(parentDir(rel), bucket)
	s.prune(parentDir(metaPath(rel)), metaDir)
	return nil
}

// prune removes dir and its parents while they are empty, stopping at stop
// (never removed) or the root.
func (s *Store) prune(dir, stop string) {
	for dir != "." && dir != "" && dir != stop {
		if err := s.root.Remove(dir); err != nil {
			return
		}
		dir = parentDir(dir)
	}
}

// DeleteMany removes up to block.MaxDeleteBatch keys, reporting those it
// could not remove (an invalid key, an I/O error).
func (s *Store) DeleteMany(ctx context.Context, bucket string, keys []string) ([]block.DeleteError, error) {
	if len(keys) > block.MaxDeleteBatch {
		return nil, fmt.Errorf("local: delete %d keys: %w", len(keys), block.ErrTooManyKeys)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateBucket(bucket); err != nil {
		return nil, err
	}
	if err := s.checkBucket(bucket); err != nil {
		return nil, err
	}
	var failed []block.DeleteError
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return failed, err
		}
		err := validateKey(bucket, key)
		if err == nil {
			err = s.delete(bucket, key)
		}
		if err != nil {
			failed = append(failed, block.DeleteError{Key: key, Err: err})
		}
	}
	return failed, nil
}

// PresignGet is not supported by the local store.
func (s *Store) PresignGet(ctx context.Context, bucket, key string, expiry time.Duration) (string, error) {
	return "", fmt.Errorf("local: presign: %w", block.ErrNotSupported)
}

// PresignPut is not supported by the local store.
func (s *Store) PresignPut(ctx context.Context, bucket, key string, expiry time.Duration) (string, error) {
	return "", fmt.Errorf("local: presign: %w", block.ErrNotSupported)
}

// parentDir is path.Dir for the slash-separated relative paths used here.
func parentDir(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "."
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// sectionReadCloser reads a section of f and closes f.
type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (r sectionReadCloser) Close() error { return r.f.Close() }
