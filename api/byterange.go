package api

import (
	"strconv"
	"strings"
)

// byteRange is an inclusive span of an object's bytes, [start, end].
type byteRange struct {
	start, end int64
}

func (r byteRange) length() int64 { return r.end - r.start + 1 }

// parseRange reads a Range header value for an object of size bytes. It
// takes one range, as S3 and lakeFS do: "bytes=a-b", "bytes=a-" or
// "bytes=-n"; an end past the object is clipped to its last byte.
func parseRange(spec string, size int64) (byteRange, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(spec), "bytes=")
	if !ok || strings.Contains(rest, ",") {
		return byteRange{}, errBadRange
	}
	from, to, ok := strings.Cut(rest, "-")
	if !ok {
		return byteRange{}, errBadRange
	}
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	switch {
	case from == "" && to == "":
		return byteRange{}, errBadRange
	case from == "": // the last n bytes
		n, err := parseOffset(to)
		if err != nil {
			return byteRange{}, err
		}
		if n == 0 || size == 0 {
			return byteRange{}, errUnsatisfiableRange
		}
		return byteRange{start: max(size-n, 0), end: size - 1}, nil
	}
	start, err := parseOffset(from)
	if err != nil {
		return byteRange{}, err
	}
	if start >= size {
		return byteRange{}, errUnsatisfiableRange
	}
	if to == "" {
		return byteRange{start: start, end: size - 1}, nil
	}
	end, err := parseOffset(to)
	if err != nil {
		return byteRange{}, err
	}
	if end < start {
		return byteRange{}, errBadRange
	}
	return byteRange{start: start, end: min(end, size-1)}, nil
}

func parseOffset(s string) (int64, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadRange
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errBadRange
	}
	return n, nil
}
