package s3

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/lakeq/lakeq/store"
)

// Size limits of the S3 protocol.
const (
	minPartSize = 5 << 20 // smallest part of a multipart upload but the last
	maxPartSize = 5 << 30 // largest part, and largest single-request copy
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultRegion is the region used when Config.Region is empty.
	DefaultRegion = "us-east-1"
	// DefaultPartSize is the multipart part size used when Config.PartSize
	// is 0.
	DefaultPartSize = 16 << 20
	// DefaultCopyPartSize is the server-side copy threshold and part size
	// used when Config.CopyPartSize is 0: the largest object S3 copies in
	// one request.
	DefaultCopyPartSize = maxPartSize
)

// Config configures a Store. Zero fields take the documented defaults.
type Config struct {
	// Endpoint is the S3 endpoint as host:port (no scheme), e.g.
	// "127.0.0.1:9000" or "s3.eu-west-1.amazonaws.com:443". Required.
	Endpoint string
	// Region is the region requests are signed for; default us-east-1.
	Region string
	// AccessKeyID and SecretAccessKey are the static credentials; both
	// empty means anonymous access.
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is the token of temporary credentials; default none.
	SessionToken string
	// Secure selects https; default false (plain http), which suits local
	// MinIO endpoints. Set it for any endpoint reached over a network.
	Secure bool
	// PathStyle forces path-style requests (http://host/bucket/key), which
	// MinIO and most S3-compatible servers need behind a plain host name.
	// Default false: minio-go picks virtual-host or path style by endpoint.
	PathStyle bool
	// PartSize is the size of each part of a multipart upload, and the
	// memory one upload of unknown size buffers; default 16 MiB, between
	// 5 MiB and 5 GiB. Objects of unknown size are uploaded in parts, so
	// they may be up to 10,000 × PartSize bytes.
	PartSize uint64
	// CopyPartSize is the largest object Copy copies in one server-side
	// request; larger objects are copied with multipart upload-part-copy
	// requests of about this size. Default (and maximum) 5 GiB, the S3
	// limit; at least 10 MiB, so that no part falls below the 5 MiB
	// minimum.
	CopyPartSize int64
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.CopyPartSize == 0 {
		c.CopyPartSize = DefaultCopyPartSize
	}
	return c
}

// Validate reports whether c can configure a Store. Zero fields are valid
// (they take their defaults). Errors wrap store.ErrInvalidValue.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Endpoint == "" {
		return fmt.Errorf("%w: s3 endpoint is required (host:port)", store.ErrInvalidValue)
	}
	if strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/") {
		return fmt.Errorf("%w: s3 endpoint %q: want host:port without scheme or path (use Secure for https)", store.ErrInvalidValue, c.Endpoint)
	}
	host, port, err := net.SplitHostPort(c.Endpoint)
	if err != nil || host == "" {
		return fmt.Errorf("%w: s3 endpoint %q: want host:port", store.ErrInvalidValue, c.Endpoint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%w: s3 endpoint %q: bad port", store.ErrInvalidValue, c.Endpoint)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return fmt.Errorf("%w: s3 credentials: set both access key id and secret access key, or neither", store.ErrInvalidValue)
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		return fmt.Errorf("%w: s3 credentials: a session token needs an access key id", store.ErrInvalidValue)
	}
	if c.PartSize < minPartSize || c.PartSize > maxPartSize {
		return fmt.Errorf("%w: s3 part size %d: want 5 MiB to 5 GiB", store.ErrInvalidValue, c.PartSize)
	}
	if c.CopyPartSize < 2*minPartSize || c.CopyPartSize > maxPartSize {
		return fmt.Errorf("%w: s3 copy part size %d: want 10 MiB to 5 GiB", store.ErrInvalidValue, c.CopyPartSize)
	}
	return nil
}
