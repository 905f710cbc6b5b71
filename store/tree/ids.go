package tree

import (
	"fmt"
	"path"
	"reflect"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// RangeID is the hex SHA-256 of a range's canonical entry encoding.
type RangeID string

// MetaRangeID is the hex SHA-256 of a metarange's canonical encoding of its
// RangeInfos.
type MetaRangeID string

// RangeInfo describes one range of a metarange.
type RangeInfo struct {
	ID     RangeID
	MinKey string // path of the range's first entry
	MaxKey string // path of the range's last entry
	Count  int64  // number of entries
	Bytes  int64  // sum of the entries' Size (object bytes)
	// FileSize is the size of the range's Parquet file in bytes, when
	// known (0 otherwise). It is informational and not part of any id.
	FileSize int64
}

// Namespace is where a tree's files live: ranges under
// Bucket/<Prefix>_lakeq/ranges/<id> and metaranges under
// Bucket/<Prefix>_lakeq/metaranges/<id>.
type Namespace struct {
	Store  block.Store
	Bucket string
	// Prefix is "" or ends with "/".
	Prefix string
}

const (
	rangesDir     = "_lakeq/ranges/"
	metaRangesDir = "_lakeq/metaranges/"
)

// RangeKey returns the object key of range id in ns.Bucket.
func (ns Namespace) RangeKey(id RangeID) string { return ns.Prefix + rangesDir + string(id) }

// MetaRangeKey returns the object key of metarange id in ns.Bucket.
func (ns Namespace) MetaRangeKey(id MetaRangeID) string {
	return ns.Prefix + metaRangesDir + string(id)
}

// Validate reports whether ns can hold files.
func (ns Namespace) Validate() error {
	if ns.Store == nil {
		return fmt.Errorf("%w: tree namespace has no block store", store.ErrInvalidNamespace)
	}
	if ns.Prefix != "" && (ns.Prefix[len(ns.Prefix)-1] != '/' || path.IsAbs(ns.Prefix)) {
		return fmt.Errorf("%w: tree namespace prefix %q must be empty or a relative path ending with '/'", store.ErrInvalidNamespace, ns.Prefix)
	}
	return nil
}

func validateID(id string) error {
	if len(id) != 64 {
		return fmt.Errorf("%w %q: want 64 hex digits", ErrInvalidID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w %q: want 64 lower-case hex digits", ErrInvalidID, id)
		}
	}
	return nil
}

// fileKind tells ranges from metaranges in cache keys.
type fileKind uint8

const (
	kindRange fileKind = iota + 1
	kindMetaRange
)

// cacheKey names one file of one namespace. The block store is part of the
// key when it is a pointer (as every implementation is), so that two stores
// with the same bucket names never share entries.
type cacheKey struct {
	store  any
	bucket string
	prefix string
	kind   fileKind
	id     string
}

func makeKey(ns Namespace, kind fileKind, id string) cacheKey {
	k := cacheKey{bucket: ns.Bucket, prefix: ns.Prefix, kind: kind, id: id}
	if t := reflect.TypeOf(ns.Store); t != nil && t.Kind() == reflect.Pointer {
		k.store = ns.Store
	}
	return k
}
