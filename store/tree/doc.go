// Package tree stores lakeq's immutable, content-addressed trees.
//
// A tree is a sorted set of store.Entry values cut into ranges: runs of
// consecutive entries, each kept as one Parquet file under
// <namespace>/_lakeq/ranges/<id>. A metarange lists a tree's ranges (min
// key, max key, id, count, bytes) and is kept the same way under
// <namespace>/_lakeq/metaranges/<id>. Ids are the hex SHA-256 of a
// canonical, length-prefixed encoding of the logical content (never of the
// Parquet bytes), so equal content always has the same id and a file is
// written at most once.
//
// Range boundaries are content-defined: a range ends after a key whose
// hash (of the path alone) is a multiple of Config.TargetEntries, or when
// the range reaches Config.MaxEntries entries or Config.MaxBytes encoded
// bytes. Changing one entry therefore rewrites one range, and every other
// range keeps its id. Apply, Replace, Diff and Merge use this: they walk
// metaranges side by side, pass ranges whose id is unchanged through
// without opening them, and open only the ranges a change touches, so
// their cost follows the size of the change rather than the size of the
// tree.
//
// Memory: readers hold one decoded range at a time (plus the metaranges
// being walked); decoded ranges and metaranges are shared through a
// bounded LRU cache (Config.CacheRanges). Writers hold at most the pending
// range plus Config.WriteConcurrency ranges being uploaded.
//
// A Manager is safe for concurrent use. Writers and iterators are not:
// each belongs to one goroutine.
package tree
