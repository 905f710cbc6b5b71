// Package importer runs zero-copy import jobs (kind "import"): it links the
// objects under external object-store prefixes (s3://bucket/prefix,
// local:///abs/path) into a branch with one commit, without copying a byte
// of object data — every entry's address is the source object's full URI.
//
// A job spreads over workers in three steps:
//
//   - Run (the first worker) lists the top level of each source with the
//     delimiter "/" and cuts its key space into disjoint, ordered shards:
//     one per sub-prefix, with small neighbours grouped and objects
//     directly at the top in runs of their own. Sources whose destinations
//     overlap ("a/" and "a/b/") form one shard whose listings are merged.
//     The plan is stored once in the metadata KV, then one task per shard
//     is fanned out.
//   - RunTask (any worker) lists its shard page by page, maps each key to
//     its destination path, and streams the sorted entries into range
//     files. A listing found out of byte order is redone through an
//     external sort that spills sorted runs to temporary files. The shard's
//     range list is stored in the KV under the shard's index, so a
//     redelivered task is a no-op.
//   - Finalize concatenates the shards' range lists into one metarange and
//     commits it to the branch by compare-and-swap, replacing everything
//     under each destination prefix. The commit carries the job id in its
//     metadata (jobs.MetadataJobID); a redelivered finalize that finds it in
//     the branch's recent history completes with that commit instead of
//     committing again, and a canceled import commits nothing.
//
// Memory stays bounded whatever the size of the source: a task holds one
// listing page per source it merges and the range it is filling
// (front-coded by the tree writer); the Handler bounds the pages of all
// its tasks (Config.ListPages), the ranges being encoded (Config.Encodes)
// and the files being uploaded (Config.Uploads).
package importer
