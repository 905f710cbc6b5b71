package redis

import "strings"

// keys names the three Redis keys that hold one partition. All three carry
// the escaped partition name inside one hash tag, so they share a Cluster
// slot and a Lua script may touch them together.
type keys struct {
	values   string // HASH key → value
	index    string // ZSET of keys, all scored 0, ordered by byte value
	counters string // HASH key → integer counter
}

// partitionKeys returns the Redis keys of partition under prefix.
func partitionKeys(prefix, partition string) keys {
	base := prefix + "{" + escapePartition(partition) + "}:"
	return keys{values: base + "v", index: base + "k", counters: base + "c"}
}

// partitionEscaper percent-encodes the bytes that could break the hash tag
// ('{' and '}') and the escape byte itself, so the encoding stays
// one-to-one: distinct partitions always get distinct Redis keys.
var partitionEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

// escapePartition encodes partition for use inside a hash tag.
func escapePartition(partition string) string {
	return partitionEscaper.Replace(partition)
}

// lexRange returns the ZRANGE BYLEX bounds that select the members m with
// m >= max(start, prefix) and m starting with prefix.
func lexRange(prefix, start string) (lower, upper string) {
	if start < prefix {
		start = prefix
	}
	lower = "-"
	if start != "" {
		lower = "[" + start
	}
	upper = "+"
	if end, ok := prefixEnd(prefix); ok {
		upper = "(" + end
	}
	return lower, upper
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix: the prefix with its trailing 0xff bytes dropped and
// its last remaining byte incremented. It reports false when no such string
// exists (prefix is empty or all 0xff bytes), meaning the range is unbounded
// above.
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
