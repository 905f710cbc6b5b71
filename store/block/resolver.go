package block

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	"github.com/lakeq/lakeq/store"
)

// Target is where a URI points: a store, and a bucket and key in it. Key
// may be empty or end with '/' when the URI names a prefix.
type Target struct {
	Store  Store
	Bucket string
	Key    string
}

// ResolverConfig configures a Resolver.
type ResolverConfig struct {
	// S3 serves s3:// URIs; nil when no S3 endpoint is configured (such
	// URIs then fail to resolve).
	S3 Store
	// Local serves local://bucket/key URIs: the local blockstore rooted at
	// the data directory. nil when there is none.
	Local Store
	// AllowedRoots are the absolute directories local:///absolute/path
	// URIs may point into (imports and exports); none by default, which
	// refuses every such URI.
	AllowedRoots []string
	// OpenLocal opens a local store rooted at one of AllowedRoots
	// (local.New in production). Required when AllowedRoots is not empty.
	OpenLocal func(dir string) (Store, error)
}

// Resolver maps storage URIs to stores. It is safe for concurrent use.
type Resolver struct {
	s3, local Store
	roots     []string // cleaned, absolute
	openLocal func(dir string) (Store, error)

	mu     sync.Mutex
	opened map[string]Store // by root
}

// NewResolver checks cfg and returns a Resolver. Allowed roots must be
// absolute; they are cleaned, and the stores for them are opened on first
// use.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	r := &Resolver{s3: cfg.S3, local: cfg.Local, openLocal: cfg.OpenLocal, opened: map[string]Store{}}
	for _, root := range cfg.AllowedRoots {
		if !filepath.IsAbs(root) {
			return nil, fmt.Errorf("%w: allowed local root %q is not an absolute path", store.ErrInvalidValue, root)
		}
		r.roots = append(r.roots, filepath.Clean(root))
	}
	if len(r.roots) > 0 && r.openLocal == nil {
		return nil, fmt.Errorf("%w: allowed local roots need an OpenLocal function", store.ErrInvalidValue)
	}
	return r, nil
}

// AllowedRoots returns the directories local:/// URIs may point into.
func (r *Resolver) AllowedRoots() []string { return append([]string(nil), r.roots...) }

// Resolve maps u to its store, bucket and key:
//
//	s3://bucket/key        → the S3 store, bucket, key
//	local://bucket/key     → the local blockstore, bucket, key
//	local:///abs/path      → a local store rooted at the allowed root that
//	                         holds /abs/path (the longest, if several do),
//	                         bucket "", key = the path below that root
//
// A path outside every allowed root, or a scheme with no store configured,
// is an error wrapping store.ErrInvalid.
func (r *Resolver) Resolve(u URI) (Target, error) {
	if err := u.Validate(); err != nil {
		return Target{}, err
	}
	switch {
	case u.Scheme == SchemeS3:
		if r.s3 == nil {
			return Target{}, fmt.Errorf("%w: %s: no S3 endpoint is configured", store.ErrInvalidURI, u)
		}
		return Target{Store: r.s3, Bucket: u.Bucket, Key: u.Key}, nil
	case u.Bucket != "":
		if r.local == nil {
			return Target{}, fmt.Errorf("%w: %s: no local blockstore is configured", store.ErrInvalidURI, u)
		}
		return Target{Store: r.local, Bucket: u.Bucket, Key: u.Key}, nil
	}
	root, key, ok := r.rootOf(u.Key)
	if !ok {
		allowed := "none are configured"
		if len(r.roots) > 0 {
			allowed = "allowed roots: " + strings.Join(r.roots, ", ")
		}
		return Target{}, fmt.Errorf("%w: %s is outside the local directories lakeq may read and write (%s)", store.ErrInvalid, u, allowed)
	}
	s, err := r.rootStore(root)
	if err != nil {
		return Target{}, err
	}
	return Target{Store: s, Bucket: "", Key: key}, nil
}

// rootOf finds the longest allowed root holding the absolute path "/"+key
// and returns key relative to it, keeping a trailing '/'.
func (r *Resolver) rootOf(key string) (root, rel string, ok bool) {
	p := "/" + strings.TrimSuffix(key, "/")
	for _, cand := range r.roots {
		var below string
		switch {
		case cand == "/":
			below = strings.TrimPrefix(p, "/")
		case p == cand:
			below = ""
		case strings.HasPrefix(p, cand+"/"):
			below = p[len(cand)+1:]
		default:
			continue
		}
		if ok && len(cand) <= len(root) {
			continue
		}
		root, rel, ok = cand, below, true
	}
	if ok && rel != "" && strings.HasSuffix(key, "/") {
		rel += "/"
	}
	return root, rel, ok
}

// rootStore returns the store of an allowed root, opening it once.
func (r *Resolver) rootStore(root string) (Store, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.opened[root]; ok {
		return s, nil
	}
	s, err := r.openLocal(root)
	if err != nil {
		return nil, fmt.Errorf("open allowed local root %s: %w", root, err)
	}
	r.opened[root] = s
	return s, nil
}

// Close closes the stores the resolver opened for allowed roots (not the
// S3 and local stores it was given).
func (r *Resolver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for root, s := range r.opened {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", root, err))
			}
		}
		delete(r.opened, root)
	}
	return errors.Join(errs...)
}
