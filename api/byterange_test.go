package api

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	cases := []struct {
		spec       string
		size       int64
		start, end int64
		err        error
	}{
		{"bytes=0-0", 10, 0, 0, nil},
		{"bytes=0-9", 10, 0, 9, nil},
		{"bytes=3-", 10, 3, 9, nil},
		{"bytes=-4", 10, 6, 9, nil},
		{"bytes=-40", 10, 0, 9, nil},
		{"bytes=5-500", 10, 5, 9, nil},
		{" bytes= 1 - 2 ", 10, 1, 2, nil},
		{"bytes=10-", 10, 0, 0, errUnsatisfiableRange},
		{"bytes=-0", 10, 0, 0, errUnsatisfiableRange},
		{"bytes=-1", 0, 0, 0, errUnsatisfiableRange},
		{"bytes=0-", 0, 0, 0, errUnsatisfiableRange},
		{"bytes=4-2", 10, 0, 0, errBadRange},
		{"bytes=1-2,3-4", 10, 0, 0, errBadRange},
		{"bytes=-", 10, 0, 0, errBadRange},
		{"bytes=+1-2", 10, 0, 0, errBadRange},
		{"bytes=1", 10, 0, 0, errBadRange},
		{"lines=1-2", 10, 0, 0, errBadRange},
		{"bytes=99999999999999999999-", 10, 0, 0, errBadRange},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			r, err := parseRange(tc.spec, tc.size)
			if !errors.Is(err, tc.err) {
				t.Fatalf("parseRange error %v, want %v", err, tc.err)
			}
			if err == nil && (r.start != tc.start || r.end != tc.end) {
				t.Fatalf("parseRange = [%d, %d], want [%d, %d]", r.start, r.end, tc.start, tc.end)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-5", "bytes=3-", "bytes=1-2,3-4", "x"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, spec string, size int64) {
		if size < 0 {
			size = -size
		}
		r, err := parseRange(spec, size)
		if err != nil {
			return
		}
		if r.start < 0 || r.end >= size || r.start > r.end || r.length() <= 0 {
			t.Fatalf("parseRange(%q, %d) = %+v: outside the object", spec, size, r)
		}
	})
}
