package importer

import (
	"strings"

	"github.com/lakeq/lakeq/store/block"
)

// Shards are cut between two items of a delimited listing. A shard holds
// the keys k with After < k <= UpTo (an empty After: from the start; an
// empty UpTo: to the end), where each bound is the "last key" of an item:
// the item's own key for an object, and for a common prefix p the largest
// key any object under p can have. Consecutive shards share their bound,
// so they partition the key space: every key, even one written after the
// plan was made, falls in exactly one shard.

// maxRune is the largest valid UTF-8 sequence of 4 bytes (U+10FFFF).
const maxRune = "\xf4\x8f\xbf\xbf"

// maxTail holds, for n = 0…3, the largest valid UTF-8 string of at most n
// bytes.
var maxTail = [4]string{"", "\x7f", "\xdf\xbf", "\xef\xbf\xbf"}

// maxSuffix returns the largest valid UTF-8 string of at most n bytes: any
// valid UTF-8 string of at most n bytes sorts at or before it.
func maxSuffix(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat(maxRune, n/4) + maxTail[n%4]
}

// lastKeyOf returns the largest key a listing item covers: the key of an
// object, or the largest valid key under a common prefix.
func lastKeyOf(item block.ListItem) string {
	if !item.IsPrefix {
		return item.Key
	}
	return item.Key + maxSuffix(block.MaxKeyLength-len(item.Key))
}

// inBounds reports whether key lies in the shard (after, upTo].
func inBounds(key, after, upTo string) bool {
	return (after == "" || key > after) && (upTo == "" || key <= upTo)
}
