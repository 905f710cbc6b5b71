package redis

import (
	"strings"
	"testing"
)

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		prefix string
		want   string
		ok     bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"abc", "abd", true},
		{"a\xff", "b", true},
		{"a\xff\xff", "b", true},
		{"\xfe", "\xff", true},
		{"\xff", "", false},
		{"\xff\xff", "", false},
		{"\x00", "\x01", true},
		{"a\x00\xff", "a\x01", true},
		{"é", "é"[:1] + "\xaa", true},
	}
	for _, tc := range tests {
		got, ok := prefixEnd(tc.prefix)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tc.prefix, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEscapePartitionOneToOne(t *testing.T) {
	names := []string{"a", "{", "}", "%", "%7B", "%7D", "%25", "{a}", "a}", "%%", "%{", "", "a:v"}
	seen := map[string]string{}
	for _, n := range names {
		e := escapePartition(n)
		if strings.ContainsAny(e, "{}") {
			t.Errorf("escapePartition(%q) = %q keeps a brace", n, e)
		}
		if prev, dup := seen[e]; dup {
			t.Errorf("escapePartition(%q) = escapePartition(%q) = %q", n, prev, e)
		}
		seen[e] = n
	}
	k := partitionKeys("lakeq:", "a}b")
	if k.values != "lakeq:{a%7Db}:v" || k.index != "lakeq:{a%7Db}:k" || k.counters != "lakeq:{a%7Db}:c" {
		t.Errorf("partitionKeys = %+v", k)
	}
}

// inLexRange reports whether member lies within ZRANGE BYLEX bounds, as
// Redis compares them (byte-wise).
func inLexRange(member, lower, upper string) bool {
	switch {
	case lower == "-":
	case lower[0] == '[' && member < lower[1:]:
		return false
	case lower[0] == '(' && member <= lower[1:]:
		return false
	}
	switch {
	case upper == "+":
	case upper[0] == '[' && member > upper[1:]:
		return false
	case upper[0] == '(' && member >= upper[1:]:
		return false
	}
	return true
}

// FuzzLexRange checks that the BYLEX bounds select exactly the keys that
// start with the prefix and are not below the start.
func FuzzLexRange(f *testing.F) {
	seeds := [][3]string{
		{"a", "", "a"}, {"a", "", "b"}, {"a\xff", "", "a\xff\x00"}, {"a\xff", "", "b"},
		{"\xff", "", "\xff\xff"}, {"", "", "x"}, {"a/", "a/2", "a/1"}, {"a/", "a/2", "a/3"},
		{"a/", "b", "a/3"}, {"a/", "0", "a/0"}, {"", "k\x00", "k"}, {"", "k\x00", "k\x00"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, prefix, start, member string) {
		lower, upper := lexRange(prefix, start)
		want := strings.HasPrefix(member, prefix) && member >= start
		if got := inLexRange(member, lower, upper); got != want {
			t.Fatalf("prefix %q start %q: member %q in [%q, %q) = %v, want %v",
				prefix, start, member, lower, upper, got, want)
		}
	})
}
