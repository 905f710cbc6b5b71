package local

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

const (
	// reservedDir is the top-level directory under the root that holds the
	// store's own files; it is never a bucket and never listed.
	reservedDir = ".lakeq"
	// metaDir mirrors the object tree with one sidecar file per object.
	metaDir = reservedDir + "/meta"
	// tmpDir holds objects and sidecars being written.
	tmpDir = reservedDir + "/tmp"
	// maxSegment is the longest file name most filesystems allow.
	maxSegment = 255
)

// validateBucket accepts "" (the root itself) or one path segment that does
// not start with '.'.
func validateBucket(bucket string) error {
	if bucket == "" {
		return nil
	}
	switch {
	case len(bucket) > maxSegment:
		return fmt.Errorf("%w: bucket %q: over %d bytes", store.ErrInvalid, bucket, maxSegment)
	case strings.HasPrefix(bucket, "."):
		return fmt.Errorf("%w: bucket %q: starts with '.'", store.ErrInvalid, bucket)
	case strings.ContainsAny(bucket, "/\x00"):
		return fmt.Errorf("%w: bucket %q: contains '/' or NUL", store.ErrInvalid, bucket)
	case !utf8.ValidString(bucket):
		return fmt.Errorf("%w: bucket %q: not valid UTF-8", store.ErrInvalid, bucket)
	}
	return nil
}

// validateKey applies block.ValidateKey and the rules a key must follow to
// be a relative file path: no leading or trailing '/', no empty, "." or
// ".." segment, no segment over 255 bytes, and in bucket "" no first
// segment ".lakeq" (reserved).
func validateKey(bucket, key string) error {
	if err := block.ValidateKey(key); err != nil {
		return err
	}
	if strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w %q: ends with '/' (the local store keeps objects as files, not directories)", block.ErrInvalidKey, key)
	}
	for i, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w %q: empty path segment", block.ErrInvalidKey, key)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w %q: %q path segment", block.ErrInvalidKey, key, seg)
		case len(seg) > maxSegment:
			return fmt.Errorf("%w %q: path segment of %d bytes, over the filesystem limit of %d", block.ErrInvalidKey, key, len(seg), maxSegment)
		case i == 0 && bucket == "" && seg == reservedDir:
			return fmt.Errorf("%w %q: %q is reserved for the store's own files", block.ErrInvalidKey, key, reservedDir)
		}
	}
	return nil
}

// validDirPrefix reports whether dir ("" or "a/b/") could hold objects: the
// segments of any key obey validateKey.
func validDirPrefix(bucket, dir string) bool {
	if dir == "" {
		return true
	}
	return validateKey(bucket, strings.TrimSuffix(dir, "/")) == nil
}

// relPath is the path of bucket/key relative to the root.
func relPath(bucket, key string) string {
	if bucket == "" {
		return key
	}
	return bucket + "/" + key
}

// dirPath is the directory of bucket that holds keys starting with dir
// ("" or "a/b/"), relative to the root.
func dirPath(bucket, dir string) string {
	p := strings.TrimSuffix(relPath(bucket, dir), "/")
	if p == "" {
		return "."
	}
	return p
}

// metaPath is the sidecar of the object at rel.
func metaPath(rel string) string { return metaDir + "/" + rel }

// conflictError explains a key that collides with a directory (another
// key's prefix) or runs through a file (another object).
func conflictError(key string, err error) error {
	return fmt.Errorf("%w %q: conflicts with an existing object or directory of the same name (in a local store a key cannot be both an object and a prefix of another key): %w", block.ErrInvalidKey, key, err)
}

// isConflict reports filesystem errors that mean a path runs through a file
// or lands on a directory.
func isConflict(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY)
}

// lockIndex picks the lock stripe of rel.
func lockIndex(rel string) int {
	h := fnv.New32a()
	h.Write([]byte(rel))
	return int(h.Sum32() % numLocks)
}
