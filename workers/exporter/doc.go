// Package exporter runs export jobs (kind "export"): it copies a commit's
// objects, or the difference between two commits, out of a repository to
// an object-store prefix (s3://bucket/prefix/, local://bucket/prefix/ or
// local:///abs/path/), so that consumers outside lakeq read plain objects.
//
// A job spreads over workers by key span:
//
//   - Run (the first worker) walks the commit's metarange — in diff mode,
//     the previous commit's and the new one's side by side — and cuts the
//     key space into spans: one per range of the commit, or in diff mode
//     one per run of ranges that differ between the two commits (ranges
//     whose id is on both sides hold no difference and are never opened).
//     It fans out one task per span.
//   - RunTask (any worker) walks its span, in diff mode as a merge of the
//     two trees, and copies the objects of the current round (deletes, in
//     diff mode, the removed ones at the destination), with at most the
//     request's parallelism of copies at a time on one worker for one job.
//     A copy is server-side when the source and the destination are in
//     the same store (one CopyObject request; multipart above 5 GiB), and
//     streamed otherwise (another endpoint, local ↔ S3). Each copy is
//     retried with backoff; an object that still fails is recorded with
//     its error, and the task still succeeds. The task's result goes to
//     the KV once; a redelivered task that finds it does nothing, and one
//     that finds the task started before skips every object whose copy at
//     the destination is already complete (same size and ETag, or the
//     source ETag recorded in its metadata).
//   - Finalize runs when a round's tasks are all done. Rounds order the
//     copies (by default Spark's _SUCCESS markers go last): a round runs
//     only over the spans where round 0 found objects of it, and only when
//     no object of an earlier round failed. After the last round — or the
//     first failed one — Finalize writes one status file at the
//     destination's root, EXPORT_<commit>_<UTC time>_SUCCESS or
//     …_FAILURE (listing each failed object and its error), whose name is
//     fixed in the KV before it is written, so that a redelivered
//     Finalize rewrites the same file.
//
// Continuous export: a Watcher (run by any number of workers) follows the
// branches that have an export rule (jobs.ExportRules) and submits one
// diff export per new commit, along the branch's first parents in commit
// order, each after the previous one finished. A compare-and-swap on the
// rule makes exactly one watcher submit each export.
package exporter
