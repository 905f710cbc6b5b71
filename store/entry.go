package store

import "time"

// AddressType says how an entry's physical address is to be read.
type AddressType uint8

const (
	// AddressRelative addresses are keys relative to the repository's storage
	// namespace; lakeq wrote the data and GC may delete it.
	AddressRelative AddressType = iota
	// AddressFull addresses are complete URIs (s3://bucket/key,
	// local:///path) of data lakeq does not own (zero-copy imports); lakeq
	// never deletes them.
	AddressFull
)

// String returns "relative" or "full", the names lakeFS's API uses.
func (t AddressType) String() string {
	if t == AddressFull {
		return "full"
	}
	return "relative"
}

// Entry is one object of a tree: a logical path and where its bytes live.
type Entry struct {
	Path        string            // logical path inside the repository
	Address     string            // physical address, see AddressType
	AddressType AddressType       // relative to the namespace, or a full URI
	Size        int64             // bytes
	ETag        string            // the object's checksum as the store reported it
	MTime       time.Time         // last modification, UTC, second precision or finer
	ContentType string            // MIME type; empty means application/octet-stream
	Metadata    map[string]string // user metadata; nil when none
}

// Equal reports whether two entries describe the same object version.
func (e *Entry) Equal(o *Entry) bool {
	if e == nil || o == nil {
		return e == o
	}
	if e.Path != o.Path || e.Address != o.Address || e.AddressType != o.AddressType ||
		e.Size != o.Size || e.ETag != o.ETag || !e.MTime.Equal(o.MTime) ||
		e.ContentType != o.ContentType || len(e.Metadata) != len(o.Metadata) {
		return false
	}
	for k, v := range e.Metadata {
		if ov, ok := o.Metadata[k]; !ok || ov != v {
			return false
		}
	}
	return true
}
