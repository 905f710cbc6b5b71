// Package bolt implements lakeq's metadata key-value contract (kv.Store) in
// one local file with bbolt (go.etcd.io/bbolt). It is the store `lakeq up`
// uses, so that a single process keeps refs, commits, staging and job state
// on disk without any outside service, and finds them again after a restart.
//
// # Why bbolt
//
// bbolt is pure Go (no cgo), keeps everything in a single file, and gives
// ACID transactions that are serializable: one read-write transaction at a
// time, any number of readers on consistent snapshots. Its keys are ordered
// byte strings in a B+tree, so the two things kv.Store asks for map directly
// onto it: a compare-and-swap is a Get and a Put inside one read-write
// transaction, and an ordered prefix scan is a cursor Seek followed by Next.
// The single-writer model is fine for one `lakeq up` process; production
// deployments with many processes use store/kv/redis instead.
//
// # Layout
//
// The file holds three top-level buckets: "values" and "counters", each with
// one nested bucket per partition (named by the partition's bytes), and
// "meta", which records the layout's format version. Counters are 8-byte
// big-endian two's-complement integers. DropPartition deletes the
// partition's nested buckets.
//
// bbolt locks the file exclusively while it is open. A second Open of the
// same file (from this or another process) waits Options.LockTimeout and
// then fails with an error wrapping ErrLocked, instead of hanging.
//
// Each write transaction is synced to disk before the call returns (unless
// Options.NoSync). bbolt transactions cannot be interrupted, so a context
// is checked before a call starts, and between the entries of a scan.
package bolt
