// Package redis implements lakeq's metadata key-value contract (kv.Store)
// on Redis, standalone or Cluster. It is the production store: every lakeq
// API and worker process shares it.
//
// # Layout
//
// Every Redis key starts with the configured prefix (default "lakeq:"), and
// a partition p is held by three keys that carry p in one hash tag, so all
// of a partition lives in one Cluster slot:
//
//	<prefix>{<p>}:v  HASH  key → value
//	<prefix>{<p>}:k  ZSET  every key, score 0: the ordered index
//	<prefix>{<p>}:c  HASH  key → integer counter
//
// Inside the tag, '%', '{' and '}' are percent-encoded, so no partition name
// can end the tag early or collide with another.
//
// # Operations
//
// Writes (Set, SetIf, Delete, DeleteIf) are Lua scripts that update the
// value hash and the index together, so a reader never sees one without the
// other. Scans read a page of the index with ZRANGE … BYLEX (byte order,
// never KEYS or SCAN) and the page's values with HMGET in the same script:
// one round trip per page. Counters use HINCRBY on their own hash, apart from
// values. DropPartition unlinks the partition's three keys.
package redis
