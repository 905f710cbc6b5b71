package block

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/lakeq/lakeq/store"
)

// URI schemes.
const (
	// SchemeS3 names objects of the configured S3-compatible endpoint:
	// s3://bucket/key.
	SchemeS3 = "s3"
	// SchemeLocal names files: local://bucket/key under the local
	// blockstore's root, or local:///absolute/path.
	SchemeLocal = "local"
)

// URI names a place in object storage. The three forms are
//
//	s3://bucket/key            Bucket is an S3 bucket name
//	local://bucket/key         Bucket is a top-level directory of the local blockstore
//	local:///absolute/path     Bucket is ""; Key is the path without its leading '/'
//
// Key may be empty (the whole bucket, or "/") and may end with '/' (a
// prefix). Keys are taken literally: there is no percent-decoding, and '%',
// '#', '?', '+' and spaces are ordinary characters.
type URI struct {
	Scheme string
	Bucket string
	Key    string
}

// ParseURI parses s into a URI. The scheme is case-insensitive; the rest is
// taken literally. Errors wrap store.ErrInvalidURI.
//
// Rules: s3 buckets are 3–63 lower-case letters, digits, dots and dashes,
// starting and ending with a letter or digit, with no "..", not an IP
// address. Local buckets are one path segment that does not start with '.'.
// Keys are valid UTF-8 without NUL, at most MaxKeyLength bytes; local keys
// also have no empty, "." or ".." segments (a trailing '/' is allowed).
func ParseURI(s string) (URI, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return URI{}, fmt.Errorf("%w %q: want s3://bucket/key, local://bucket/key or local:///absolute/path", store.ErrInvalidURI, s)
	}
	u := URI{Scheme: strings.ToLower(scheme)}
	switch u.Scheme {
	case SchemeS3, SchemeLocal:
	default:
		return URI{}, fmt.Errorf("%w %q: unknown scheme %q (want s3 or local)", store.ErrInvalidURI, s, scheme)
	}
	u.Bucket, u.Key, _ = strings.Cut(rest, "/")
	if u.Scheme == SchemeLocal && u.Bucket == "" && !strings.HasPrefix(rest, "/") {
		return URI{}, fmt.Errorf("%w %q: missing bucket (use local:///absolute/path for absolute paths)", store.ErrInvalidURI, s)
	}
	if err := u.Validate(); err != nil {
		return URI{}, err
	}
	return u, nil
}

// MustParseURI is ParseURI for constants in tests and examples; it panics on
// an invalid URI.
func MustParseURI(s string) URI {
	u, err := ParseURI(s)
	if err != nil {
		panic(err)
	}
	return u
}

// Validate reports whether u is well formed, by the rules of ParseURI.
func (u URI) Validate() error {
	switch u.Scheme {
	case SchemeS3:
		if err := validateS3Bucket(u.Bucket); err != nil {
			return fmt.Errorf("%w %q: %w", store.ErrInvalidURI, u.String(), err)
		}
	case SchemeLocal:
		if u.Bucket != "" {
			if err := validateLocalBucket(u.Bucket); err != nil {
				return fmt.Errorf("%w %q: %w", store.ErrInvalidURI, u.String(), err)
			}
		}
	default:
		return fmt.Errorf("%w: unknown scheme %q (want s3 or local)", store.ErrInvalidURI, u.Scheme)
	}
	if err := validateURIKey(u.Scheme, u.Key); err != nil {
		return fmt.Errorf("%w %q: %w", store.ErrInvalidURI, u.String(), err)
	}
	return nil
}

// String formats u so that ParseURI(u.String()) == u for every valid u.
func (u URI) String() string {
	return u.Scheme + "://" + u.Bucket + "/" + u.Key
}

// IsAbsoluteLocal reports whether u is a local:///absolute/path URI.
func (u URI) IsAbsoluteLocal() bool {
	return u.Scheme == SchemeLocal && u.Bucket == ""
}

// Join returns u with rel appended to its key as a path: a '/' separates
// them unless the key is empty or already ends with one; leading slashes
// of rel are dropped. The result is not validated.
func (u URI) Join(rel string) URI {
	rel = strings.TrimLeft(rel, "/")
	switch {
	case rel == "":
	case u.Key == "" || strings.HasSuffix(u.Key, "/"):
		u.Key += rel
	default:
		u.Key += "/" + rel
	}
	return u
}

// Contains reports whether other lies inside u: same scheme and bucket, and
// other's key equal to u's key or below it at a '/' boundary. So
// s3://b/repo contains s3://b/repo/x and s3://b/repo itself, but not
// s3://b/repo2/x.
func (u URI) Contains(other URI) bool {
	if u.Scheme != other.Scheme || u.Bucket != other.Bucket {
		return false
	}
	if u.Key == "" || strings.TrimSuffix(u.Key, "/") == strings.TrimSuffix(other.Key, "/") {
		return true
	}
	dir := u.Key
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	return strings.HasPrefix(other.Key, dir)
}

// IsPrefixOf is Contains: it reports whether other lies inside u.
func (u URI) IsPrefixOf(other URI) bool { return u.Contains(other) }

// validateS3Bucket applies the S3 bucket naming rules.
func validateS3Bucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket %q: 3-63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("bucket %q: only a-z, 0-9, '.' and '-'", b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("bucket %q: must start and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket %q: contains \"..\"", b)
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return fmt.Errorf("bucket %q: looks like an IP address", b)
	}
	return nil
}

// validateLocalBucket accepts one path segment that does not start with '.'.
func validateLocalBucket(b string) error {
	switch {
	case b == "":
		return fmt.Errorf("empty bucket")
	case len(b) > 255:
		return fmt.Errorf("bucket %q: over 255 bytes", b)
	case strings.HasPrefix(b, "."):
		return fmt.Errorf("bucket %q: starts with '.'", b)
	case strings.ContainsAny(b, "/\\\x00"):
		return fmt.Errorf("bucket %q: contains '/', '\\' or NUL", b)
	case !utf8.ValidString(b):
		return fmt.Errorf("bucket %q: not valid UTF-8", b)
	}
	return nil
}

func validateURIKey(scheme, key string) error {
	switch {
	case len(key) > MaxKeyLength:
		return fmt.Errorf("key of %d bytes, over the limit of %d", len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return fmt.Errorf("key is not valid UTF-8")
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("key contains a NUL byte")
	}
	if scheme == SchemeLocal && key != "" {
		segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
		for _, seg := range segs {
			switch seg {
			case "":
				return fmt.Errorf("path %q has an empty segment", key)
			case ".", "..":
				return fmt.Errorf("path %q has a %q segment", key, seg)
			}
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}
