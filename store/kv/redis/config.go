package redis

import (
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Defaults applied to a zero Config.
const (
	// DefaultURL is the Redis lakeq connects to when Config.URL is empty.
	DefaultURL = "redis://127.0.0.1:6379/0"
	// DefaultKeyPrefix starts every key when Config.KeyPrefix is empty.
	DefaultKeyPrefix = "lakeq:"
)

// Config configures the Redis metadata store. The zero value connects to
// DefaultURL with DefaultKeyPrefix.
type Config struct {
	// URL locates Redis: redis://[user:password@]host:port/db, or rediss://
	// for TLS; query parameters are those of go-redis's ParseURL. A
	// comma-separated list of URLs connects to a Redis Cluster through those
	// seed nodes; in Cluster mode the database must be 0, and only the
	// addresses, credentials and TLS setting of the URLs are used.
	// Default DefaultURL.
	URL string
	// Cluster selects Redis Cluster mode even for a single URL (a cluster's
	// configuration endpoint). Default false: one URL is a standalone server.
	Cluster bool
	// KeyPrefix starts every Redis key the store writes, so that several
	// lakeq installations can share one Redis. It must not contain '{' or
	// '}', which would break the partition's hash tag. Default
	// DefaultKeyPrefix.
	KeyPrefix string
	// DialTimeout bounds opening a connection. Default 0: the URL's
	// dial_timeout, else 5s.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for a reply; the context's deadline applies
	// as well. Default 0: the URL's read_timeout, else 3s.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending a command; the context's deadline applies
	// as well. Default 0: the URL's write_timeout, else ReadTimeout.
	WriteTimeout time.Duration
	// PoolSize caps the connections kept per Redis node. Default 0: the
	// URL's pool_size, else 10 per GOMAXPROCS.
	PoolSize int
}

// withDefaults returns c with its empty fields set to their defaults.
func (c Config) withDefaults() Config {
	if strings.TrimSpace(c.URL) == "" {
		c.URL = DefaultURL
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	return c
}

// Validate reports whether c (with defaults applied to its empty fields) can
// be used; its errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := validatePrefix(c.KeyPrefix); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"dial timeout", c.DialTimeout}, {"read timeout", c.ReadTimeout}, {"write timeout", c.WriteTimeout}} {
		if t.d < 0 {
			return fmt.Errorf("%w: negative %s %s", ErrInvalidConfig, t.name, t.d)
		}
	}
	if c.PoolSize < 0 {
		return fmt.Errorf("%w: negative pool size %d", ErrInvalidConfig, c.PoolSize)
	}
	_, err := c.parseURLs()
	return err
}

// validatePrefix rejects key prefixes that would break the hash tag.
func validatePrefix(prefix string) error {
	if strings.ContainsAny(prefix, "{}") {
		return fmt.Errorf("%w: key prefix %q contains '{' or '}'", ErrInvalidConfig, prefix)
	}
	return nil
}

// clusterMode reports whether c selects Redis Cluster.
func (c Config) clusterMode() bool {
	return c.Cluster || strings.Contains(c.URL, ",")
}

// parseURLs parses every URL of c.URL.
func (c Config) parseURLs() ([]*goredis.Options, error) {
	var opts []*goredis.Options
	for _, raw := range strings.Split(c.URL, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return nil, fmt.Errorf("%w: empty entry in url list", ErrInvalidConfig)
		}
		o, err := goredis.ParseURL(raw)
		if err != nil {
			// The URL may hold a password: report only the parser's reason.
			return nil, fmt.Errorf("%w: url: %w", ErrInvalidConfig, err)
		}
		if c.clusterMode() && o.DB != 0 {
			return nil, fmt.Errorf("%w: Redis Cluster has only database 0, url selects %d", ErrInvalidConfig, o.DB)
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// connBuffer is the size of each connection's read and write buffers.
// The store's commands and replies are small (a job, a commit, a page of
// keys), and a busy worker keeps a connection for each goroutine waiting on
// Redis: go-redis's 32 KiB each made up a tenth of an import worker's heap.
// Longer replies are read in more than one read.
const connBuffer = 8 << 10

// newClient returns a client for c, which must be valid and have its
// defaults applied. The client bounds every call by its context.
func (c Config) newClient() (goredis.UniversalClient, error) {
	opts, err := c.parseURLs()
	if err != nil {
		return nil, err
	}
	if !c.clusterMode() {
		o := opts[0]
		setIf(&o.DialTimeout, c.DialTimeout)
		setIf(&o.ReadTimeout, c.ReadTimeout)
		setIf(&o.WriteTimeout, c.WriteTimeout)
		if c.PoolSize > 0 {
			o.PoolSize = c.PoolSize
		}
		o.ReadBufferSize, o.WriteBufferSize = connBuffer, connBuffer
		o.ContextTimeoutEnabled = true
		return goredis.NewClient(o), nil
	}
	first := opts[0]
	co := &goredis.ClusterOptions{
		Username:              first.Username,
		Password:              first.Password,
		TLSConfig:             first.TLSConfig,
		DialTimeout:           first.DialTimeout,
		ReadTimeout:           first.ReadTimeout,
		WriteTimeout:          first.WriteTimeout,
		PoolSize:              first.PoolSize,
		ReadBufferSize:        connBuffer,
		WriteBufferSize:       connBuffer,
		ContextTimeoutEnabled: true,
	}
	for _, o := range opts {
		co.Addrs = append(co.Addrs, o.Addr)
	}
	setIf(&co.DialTimeout, c.DialTimeout)
	setIf(&co.ReadTimeout, c.ReadTimeout)
	setIf(&co.WriteTimeout, c.WriteTimeout)
	if c.PoolSize > 0 {
		co.PoolSize = c.PoolSize
	}
	return goredis.NewClusterClient(co), nil
}

// setIf sets *dst to v when v is non-zero.
func setIf(dst *time.Duration, v time.Duration) {
	if v != 0 {
		*dst = v
	}
}
