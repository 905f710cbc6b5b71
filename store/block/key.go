package block

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLength is the longest object key a Store accepts, in bytes (the S3
// limit).
const MaxKeyLength = 1024

// MaxMetadataSize is the largest total size, in bytes, of an object's user
// metadata keys and values (the S3 limit).
const MaxMetadataSize = 2048

// ValidateKey reports whether key may name an object in any Store:
// non-empty, at most MaxKeyLength bytes, valid UTF-8, no NUL byte. Errors
// wrap ErrInvalidKey. Implementations may add rules of their own (the local
// store does).
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrInvalidKey, len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w %q: not valid UTF-8", ErrInvalidKey, key)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w %q: contains a NUL byte", ErrInvalidKey, key)
	}
	return nil
}

// ValidatePrefix is ValidateKey for a listing prefix or start key, which may
// be empty.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidateKey(prefix)
}

// NormalizeMetadata checks user metadata and returns a copy with lower-case
// keys, or nil when m is empty. Keys are letters, digits, '-', '_' and '.';
// values are printable ASCII without leading or trailing spaces (so that
// they survive HTTP headers unchanged); keys and values together take at
// most MaxMetadataSize bytes. Errors wrap ErrInvalidMetadata.
func NormalizeMetadata(m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	total := 0
	for k, v := range m {
		lk := strings.ToLower(k)
		if err := checkMetadataKey(lk); err != nil {
			return nil, err
		}
		if err := checkMetadataValue(lk, v); err != nil {
			return nil, err
		}
		if _, dup := out[lk]; dup {
			return nil, fmt.Errorf("%w: metadata key %q given twice (keys are case-insensitive)", ErrInvalidMetadata, lk)
		}
		out[lk] = v
		total += len(lk) + len(v)
	}
	if total > MaxMetadataSize {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrInvalidMetadata, total, MaxMetadataSize)
	}
	return out, nil
}

func checkMetadataKey(k string) error {
	if k == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidMetadata)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: key %q: only letters, digits, '-', '_' and '.'", ErrInvalidMetadata, k)
		}
	}
	return nil
}

func checkMetadataValue(k, v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return fmt.Errorf("%w: value of %q: only printable ASCII", ErrInvalidMetadata, k)
		}
	}
	if strings.TrimSpace(v) != v {
		return fmt.Errorf("%w: value of %q: leading or trailing spaces", ErrInvalidMetadata, k)
	}
	return nil
}
