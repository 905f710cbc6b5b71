package api

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
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
			ns, err := s.resolveURI(r.StorageNamespace)
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

// resolveURI parses uri, a storage namespace or an s3:// or local://
// location, and resolves it to where its keys live.
func (s *Server) resolveURI(uri string) (block.Target, error) {
	u, err := block.ParseURI(uri)
	if err != nil {
		return block.Target{}, err
	}
	return s.graph.Blocks().Resolve(u)
}

// errOverlap ends a scan of the export rules at the first that overlaps.
var errOverlap = errors.New("overlap")

// checkNewNamespace checks that namespace, the storage namespace of a new
// repository id, is its own: it neither lies inside nor holds another
// repository's namespace (the two would share their range files, and one
// repository's objects would show in imports and exports of the other's),
// nor a continuous export's destination (every export would write over the
// repository's files). A namespace that does not parse or resolve is left
// to the repository's creation to refuse, and one of a repository named id
// to its "already exists".
func (s *Server) checkNewNamespace(ctx context.Context, id store.RepoID, namespace string) error {
	t, err := s.resolveURI(namespace)
	if err != nil {
		return nil
	}
	owner, err := s.namespaceOwner(ctx, func(ns block.Target) bool { return destinationOverlaps(ns, t) })
	if err != nil {
		return fmt.Errorf("check storage namespace: %w", err)
	}
	if owner != nil && owner.ID != id {
		return badRequest("storage namespace %s overlaps the storage namespace %s of repository %s: give each repository a namespace of its own",
			namespace, owner.StorageNamespace, owner.ID)
	}
	if s.jobs == nil {
		return nil
	}
	var rule *jobs.ExportRule
	err = s.jobs.ExportRules().List(ctx, func(r *jobs.ExportRule) error {
		du, err := jobs.ExportDestination(r.Destination)
		if err != nil {
			return nil
		}
		dest, err := s.graph.Blocks().Resolve(du)
		if err != nil || !destinationOverlaps(t, dest) {
			return nil
		}
		rule = r
		return errOverlap
	})
	switch {
	case errors.Is(err, errOverlap):
		return badRequest("storage namespace %s overlaps %s, the destination of the continuous export of %s/%s: every export would write over the repository's files",
			namespace, rule.Destination, rule.Repo, rule.Branch)
	case err != nil:
		return fmt.Errorf("check storage namespace: %w", err)
	}
	return nil
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
