package api

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/graph"
)

// namespacePage is how many repositories a scan of the storage namespaces
// reads at a time.
const namespacePage = 1000

// namespaceOwner returns the first repository, in id order, whose storage
// namespace overlaps reports true for, or nil when there is none. The
// namespaces are resolved as the repositories' own files are, so a
// local:/// path inside a namespace is found too. The repositories are
// read a page at a time. A namespace that no longer resolves (its store is
// not configured any more) holds nothing a resolved target could be in,
// and is skipped.
func (s *Server) namespaceOwner(ctx context.Context, overlaps func(ns block.Target) bool) (*graph.Repository, error) {
	blocks := s.graph.Blocks()
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		page, more, err := s.graph.ListRepositories(ctx, after, namespacePage)
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			u, err := block.ParseURI(r.StorageNamespace)
			if err != nil {
				continue
			}
			ns, err := blocks.Resolve(u)
			if err != nil {
				continue
			}
			if overlaps(ns) {
				return r, nil
			}
		}
		if !more || len(page) == 0 {
			return nil, nil
		}
		after = string(page[len(page)-1].ID)
	}
}

// dirStore is a block store over a directory (the local store).
type dirStore interface{ Dir() string }

// comparableKeys returns the keys of ns and t in one key space, to compare
// as prefixes: their keys when both are in the same bucket of the same
// store, else their file paths when both are local stores. ok is false
// when the two cannot overlap.
func comparableKeys(ns, t block.Target) (nsKey, key string, ok bool) {
	if ns.Store == t.Store && ns.Bucket == t.Bucket {
		return ns.Key, t.Key, true
	}
	a, okA := ns.Store.(dirStore)
	b, okB := t.Store.(dirStore)
	if !okA || !okB {
		return "", "", false
	}
	return filepath.Join(a.Dir(), ns.Bucket) + "/" + ns.Key, filepath.Join(b.Dir(), t.Bucket) + "/" + t.Key, true
}

// withSlash returns key ending in '/', "" staying "".
func withSlash(key string) string {
	if key != "" && !strings.HasSuffix(key, "/") {
		return key + "/"
	}
	return key
}

// overlapsNamespace reports whether source t lies inside the storage
// namespace ns, or (a prefix source) would list it. Keys are compared as
// raw prefixes, as listings take them; local stores by file path.
func overlapsNamespace(ns, t block.Target, object bool) bool {
	nsKey, key, ok := comparableKeys(ns, t)
	if !ok {
		return false
	}
	nsKey = withSlash(nsKey)
	if strings.HasPrefix(key, nsKey) {
		return true
	}
	return !object && strings.HasPrefix(nsKey, key)
}

// destinationOverlaps reports whether an export to dest would write into
// the storage namespace ns, or hold it: keys compared as prefixes at '/'
// boundaries in the same bucket, local stores by file path.
func destinationOverlaps(ns, dest block.Target) bool {
	a, b, ok := comparableKeys(ns, dest)
	if !ok {
		return false
	}
	a, b = withSlash(a), withSlash(b)
	return strings.HasPrefix(a, b) || strings.HasPrefix(b, a)
}
