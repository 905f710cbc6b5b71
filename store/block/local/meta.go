package local

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"syscall"

	"github.com/lakeq/lakeq/store/block"
)

// defaultContentType is what S3 reports for objects stored without one.
const defaultContentType = "application/octet-stream"

// sidecar is what Put records next to an object, in the mirror tree under
// .lakeq/meta. Size, MTime and Inode identify the file version it describes:
// when the file changes by other means, the sidecar no longer matches and
// is ignored.
type sidecar struct {
	Size        int64             `json:"size"`
	MTime       int64             `json:"mtime_ns"`
	Inode       uint64            `json:"inode"`
	ETag        string            `json:"etag"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// fileID is the identity of one version of a file.
type fileID struct {
	size  int64
	mtime int64
	inode uint64
}

func idOf(fi fs.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.inode = st.Ino
	}
	return id
}

// readSidecar returns the sidecar of rel if it describes the file version
// id, or nil.
func (s *Store) readSidecar(rel string, id fileID) *sidecar {
	b, err := s.root.ReadFile(metaPath(rel))
	if err != nil {
		return nil
	}
	var sc sidecar
	if json.Unmarshal(b, &sc) != nil {
		return nil
	}
	if sc.Size != id.size || sc.MTime != id.mtime || sc.Inode != id.inode {
		return nil
	}
	return &sc
}

// writeSidecar stores sc as the sidecar of rel, atomically. A stale entry in
// the way (left by files changed outside the store) is removed.
func (s *Store) writeSidecar(rel string, sc *sidecar) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	tmp, f, err := s.createTemp()
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.root.Remove(tmp)
		return err
	}
	dst := metaPath(rel)
	for attempt := 0; ; attempt++ {
		err = s.placeFile(tmp, dst)
		if err == nil {
			return nil
		}
		if attempt > 0 || !isConflict(err) {
			break
		}
		// A stale sidecar where a directory must go, or a stale directory
		// where the sidecar goes: clear the way and retry once.
		s.clearMetaPath(dst)
	}
	s.root.Remove(tmp)
	return err
}

// clearMetaPath removes whatever blocks dst in the mirror tree: dst itself
// if it is a directory, or a sidecar file standing where one of dst's
// parent directories must be.
func (s *Store) clearMetaPath(dst string) {
	if fi, err := s.root.Lstat(dst); err == nil && fi.IsDir() {
		s.root.RemoveAll(dst)
		return
	}
	for p := parentDir(dst); p != metaDir && p != "."; p = parentDir(p) {
		if fi, err := s.root.Lstat(p); err == nil && !fi.IsDir() {
			s.root.Remove(p)
			return
		}
	}
}

// removeSidecar deletes the sidecar of rel, if any.
func (s *Store) removeSidecar(rel string) {
	s.root.Remove(metaPath(rel))
}

// objectInfo builds the description of bucket/key from its file info and
// sidecar. Without a matching sidecar (a file that did not come through
// Put) the ETag is derived from size, modification time and inode, so that
// it still changes whenever the file does; the content type is
// application/octet-stream.
func objectInfo(bucket, key string, fi fs.FileInfo, sc *sidecar, full bool) block.ObjectInfo {
	info := block.ObjectInfo{
		Bucket:       bucket,
		Key:          key,
		Size:         fi.Size(),
		LastModified: fi.ModTime().UTC(),
	}
	if sc != nil {
		info.ETag = sc.ETag
	} else {
		id := idOf(fi)
		sum := md5.Sum([]byte("lakeq-local-file:" + strconv.FormatInt(id.size, 10) + ":" +
			strconv.FormatInt(id.mtime, 10) + ":" + strconv.FormatUint(id.inode, 10)))
		info.ETag = hex.EncodeToString(sum[:])
	}
	if !full {
		return info
	}
	info.ContentType = defaultContentType
	if sc != nil {
		if sc.ContentType != "" {
			info.ContentType = sc.ContentType
		}
		if len(sc.Metadata) > 0 {
			info.Metadata = make(map[string]string, len(sc.Metadata))
			for k, v := range sc.Metadata {
				info.Metadata[k] = v
			}
		}
	}
	return info
}

// statRegular returns the file info of rel if it is a regular file; a
// missing file, a directory, a symbolic link or a path running through a
// file are all reported as block.ErrNotFound.
func (s *Store) statRegular(bucket, key, rel string) (fs.FileInfo, error) {
	fi, err := s.root.Lstat(rel)
	switch {
	case err == nil && fi.Mode().IsRegular():
		return fi, nil
	case err == nil, errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		if berr := s.checkBucket(bucket); berr != nil {
			return nil, berr
		}
		return nil, fmt.Errorf("local: %s/%s: %w", bucket, key, block.ErrNotFound)
	default:
		return nil, fmt.Errorf("local: stat %s/%s: %w", bucket, key, err)
	}
}

// checkBucket returns block.ErrBucketNotFound unless bucket is "" or a
// directory under the root.
func (s *Store) checkBucket(bucket string) error {
	if bucket == "" {
		return nil
	}
	fi, err := s.root.Stat(bucket)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local: bucket %q: %w", bucket, block.ErrBucketNotFound)
	}
	return fmt.Errorf("local: bucket %q: %w", bucket, err)
}
