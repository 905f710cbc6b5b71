package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// List returns one page of bucket's keys in ascending byte order. The walk
// goes directory by directory, each read whole and sorted, and skips every
// directory that lies entirely before StartAfter or outside Prefix, so a
// page costs the directories on its path, not the whole tree. With a
// delimiter ("/" is the only one accepted), a common prefix is returned once, at the position of its first
// key; like objects, only prefixes strictly after StartAfter are returned.
// Items carry Key, Size, ETag and LastModified.
func (s *Store) List(ctx context.Context, bucket string, opts block.ListOptions) (block.ListPage, error) {
	if err := ctx.Err(); err != nil {
		return block.ListPage{}, err
	}
	if err := validateBucket(bucket); err != nil {
		return block.ListPage{}, err
	}
	if err := block.ValidatePrefix(opts.Prefix); err != nil {
		return block.ListPage{}, err
	}
	if err := block.ValidatePrefix(opts.StartAfter); err != nil {
		return block.ListPage{}, err
	}
	if opts.Delimiter != "" && opts.Delimiter != "/" {
		return block.ListPage{}, fmt.Errorf("%w: list delimiter %q: only \"/\" is supported", store.ErrInvalid, opts.Delimiter)
	}
	if opts.MaxKeys < 0 {
		return block.ListPage{}, fmt.Errorf("%w: negative MaxKeys %d", store.ErrInvalid, opts.MaxKeys)
	}
	if opts.MaxKeys == 0 || opts.MaxKeys > block.MaxDeleteBatch {
		opts.MaxKeys = 1000
	}
	if err := s.checkBucket(bucket); err != nil {
		return block.ListPage{}, err
	}
	l := &lister{s: s, ctx: ctx, bucket: bucket, opts: opts}
	// Every key that matches Prefix lies under Prefix's directory part.
	start := opts.Prefix[:strings.LastIndexByte(opts.Prefix, '/')+1]
	if !validDirPrefix(bucket, start) {
		return block.ListPage{}, nil
	}
	if _, err := l.walk(start); err != nil {
		return block.ListPage{}, fmt.Errorf("local: list %s/%s: %w", bucket, opts.Prefix, err)
	}
	return block.ListPage{Items: l.items, Truncated: l.truncated}, nil
}

// lister is the state of one List call.
type lister struct {
	s          *Store
	ctx        context.Context
	bucket     string
	opts       block.ListOptions
	items      []block.ListItem
	truncated  bool
	lastPrefix string
}

// dirEntry is one entry of a directory with the key order it sorts by:
// its name, plus '/' for a directory (all its keys start with that).
type dirEntry struct {
	sortKey string
	name    string
	isDir   bool
	entry   fs.DirEntry
}

// readDir returns the objects and subdirectories of dir ("" or "a/b/") in
// key order. A directory that vanished reads as empty.
func (l *lister) readDir(dir string) ([]dirEntry, error) {
	f, err := l.s.root.Open(dirPath(l.bucket, dir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil // gone, or a file where the prefix expects a directory
		}
		return nil, err
	}
	out := make([]dirEntry, 0, len(ents))
	for _, e := range ents {
		name := e.Name()
		if !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0 {
			continue // not representable as a key
		}
		if dir == "" && l.bucket == "" && name == reservedDir {
			continue
		}
		switch {
		case e.Type().IsRegular():
			out = append(out, dirEntry{sortKey: dir + name, name: name, entry: e})
		case e.IsDir():
			out = append(out, dirEntry{sortKey: dir + name + "/", name: name, isDir: true, entry: e})
		}
	}
	slices.SortFunc(out, func(a, b dirEntry) int { return strings.Compare(a.sortKey, b.sortKey) })
	return out, nil
}

// walk visits the keys under dir in order and reports whether the page is
// full.
func (l *lister) walk(dir string) (bool, error) {
	ents, err := l.readDir(dir)
	if err != nil {
		return false, err
	}
	prefix, after := l.opts.Prefix, l.opts.StartAfter
	for _, e := range ents {
		if err := l.ctx.Err(); err != nil {
			return false, err
		}
		k := e.sortKey
		inPrefix := strings.HasPrefix(k, prefix)
		if !inPrefix && !(e.isDir && strings.HasPrefix(prefix, k)) {
			if k > prefix {
				break // sorted: every later entry is past the prefix too
			}
			continue
		}
		if !e.isDir {
			if full := l.object(k, e); full {
				return true, nil
			}
			continue
		}
		// Skip a directory whose keys all sort at or before StartAfter.
		if after >= k && !strings.HasPrefix(after, k) {
			continue
		}
		if cp, ok := l.commonPrefix(k); ok && strings.HasPrefix(k, cp) {
			// Every key below rolls up into cp.
			if cp == l.lastPrefix || cp <= after {
				continue
			}
			has, err := l.hasObject(k)
			if err != nil {
				return false, err
			}
			if has {
				l.lastPrefix = cp
				if full := l.add(block.ListItem{Key: cp, IsPrefix: true}); full {
					return true, nil
				}
			}
			continue
		}
		full, err := l.walk(k)
		if err != nil || full {
			return full, err
		}
	}
	return false, nil
}

// object handles the file key.
func (l *lister) object(key string, e dirEntry) bool {
	if key <= l.opts.StartAfter {
		return false
	}
	if cp, ok := l.commonPrefix(key); ok {
		if cp == l.lastPrefix || cp <= l.opts.StartAfter {
			return false
		}
		l.lastPrefix = cp
		return l.add(block.ListItem{Key: cp, IsPrefix: true})
	}
	fi, err := e.entry.Info()
	if err != nil {
		return false // removed since the directory was read
	}
	rel := relPath(l.bucket, key)
	mu := &l.s.locks[lockIndex(rel)]
	mu.RLock()
	sc := l.s.readSidecar(rel, idOf(fi))
	mu.RUnlock()
	info := objectInfo(l.bucket, key, fi, sc, false)
	return l.add(block.ListItem{Key: key, Object: info})
}

// commonPrefix returns the common prefix key rolls up into, if any.
func (l *lister) commonPrefix(key string) (string, bool) {
	d := l.opts.Delimiter
	if d == "" || !strings.HasPrefix(key, l.opts.Prefix) {
		return "", false
	}
	rest := key[len(l.opts.Prefix):]
	i := strings.Index(rest, d)
	if i < 0 {
		return "", false
	}
	return l.opts.Prefix + rest[:i+len(d)], true
}

// add appends an item, or notes that the page is full and stops the walk.
func (l *lister) add(item block.ListItem) bool {
	if len(l.items) == l.opts.MaxKeys {
		l.truncated = true
		return true
	}
	l.items = append(l.items, item)
	return false
}

// hasObject reports whether the directory dir holds a regular file at any
// depth (empty directories are not listed).
func (l *lister) hasObject(dir string) (bool, error) {
	ents, err := l.readDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if !e.isDir {
			return true, nil
		}
	}
	for _, e := range ents {
		if err := l.ctx.Err(); err != nil {
			return false, err
		}
		has, err := l.hasObject(e.sortKey)
		if err != nil || has {
			return has, err
		}
	}
	return false, nil
}
