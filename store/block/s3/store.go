// Package s3 implements block.Store over any S3-compatible endpoint (AWS S3,
// MinIO, …) with minio-go.
//
// Uploads stream: an object of unknown size is sent in parts of
// Config.PartSize, so memory per upload is one part. Copies are
// server-side; objects larger than Config.CopyPartSize (5 GiB by default,
// the S3 single-copy limit) are copied in parts. Errors of the endpoint are
// mapped onto the block sentinels: NoSuchKey → block.ErrNotFound,
// NoSuchBucket → block.ErrBucketNotFound, InvalidRange →
// block.ErrInvalidRange. Listings page with the endpoint's continuation
// tokens, and on MinIO start from a MinIO listing marker instead of
// start-after, which MinIO can cut short (see Store.List).
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// Continuation tokens are remembered for this long, this many at most.
const (
	tokenTTL       = time.Minute
	tokenCacheSize = 4096
)

// maxPresignExpiry is the longest validity S3 accepts for a presigned URL.
const maxPresignExpiry = 7 * 24 * time.Hour

// Store is a block.Store over one S3-compatible endpoint. It is safe for
// concurrent use.
type Store struct {
	cfg    Config
	client *minio.Client
	core   minio.Core
	// lister presigns the store's listing requests: client, or without
	// credentials a client with placeholder ones (see listURL).
	lister *minio.Client
	server *serverSniffer
	tokens *tokenCache
	// http sends the requests the store makes itself (presigned
	// listings), over the client's transport.
	http *http.Client
	// slowLists counts the listing requests left to minio-go.
	slowLists atomic.Int64
}

var _ block.Store = (*Store)(nil)

// New returns a Store for cfg (defaults applied, then validated). It does
// not contact the endpoint.
func New(cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("s3: transport: %w", err)
	}
	sniffer := &serverSniffer{next: transport}
	opts := &minio.Options{
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: sniffer,
	}
	if cfg.AccessKeyID != "" {
		opts.Creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	} else {
		opts.Creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	if cfg.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	client, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("s3: client for %s: %w", cfg.Endpoint, err)
	}
	lister := client
	if cfg.AccessKeyID == "" {
		// minio-go presigns nothing without credentials. Listing URLs are
		// presigned with placeholder ones, then sent with the signature
		// taken off (unsignedURL): minio-go still builds them, with the
		// addressing style and regional endpoint it uses for every request.
		o := *opts
		o.Creds = credentials.NewStaticV4(anonymousKey, anonymousKey, "")
		if lister, err = minio.New(cfg.Endpoint, &o); err != nil {
			return nil, fmt.Errorf("s3: client for %s: %w", cfg.Endpoint, err)
		}
	}
	return &Store{cfg: cfg, client: client, core: minio.Core{Client: client}, lister: lister,
		server: sniffer, tokens: newTokenCache(tokenCacheSize, tokenTTL),
		http: &http.Client{
			Transport:     sniffer,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}, nil
}

// Client returns the underlying minio-go client, for operations outside
// block.Store (bucket notifications, policies).
func (s *Store) Client() *minio.Client { return s.client }

// Config returns the store's configuration, with defaults applied.
func (s *Store) Config() Config { return s.cfg }

// MakeBucket creates bucket in the configured region. A bucket that already
// exists and belongs to the caller is not an error.
func (s *Store) MakeBucket(ctx context.Context, bucket string) error {
	err := s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
	if err == nil {
		return nil
	}
	switch minio.ToErrorResponse(err).Code {
	case "BucketAlreadyOwnedByYou":
		return nil
	case "BucketAlreadyExists":
		return fmt.Errorf("s3: make bucket %q: %w: %w", bucket, store.ErrAlreadyExists, err)
	}
	return mapError("make bucket", bucket, "", err)
}

// BucketExists reports whether bucket exists and the credentials reach it.
func (s *Store) BucketExists(ctx context.Context, bucket string) (bool, error) {
	ok, err := s.client.BucketExists(ctx, bucket)
	if err != nil {
		return false, mapError("bucket exists", bucket, "", err)
	}
	return ok, nil
}

// Put streams r to bucket/key: in one request when size is known and at
// most PartSize, else as a multipart upload in parts of PartSize. A
// *bytes.Buffer or an *io.SectionReader that holds exactly size bytes is
// hashed first and sent with its MD5 and SHA-256; a section is sent whole,
// from its start. The returned ObjectInfo is built from the upload's
// answer, without a Stat.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, opts block.PutOptions) (block.ObjectInfo, error) {
	if err := block.ValidateKey(key); err != nil {
		return block.ObjectInfo{}, err
	}
	meta, err := block.NormalizeMetadata(opts.Metadata)
	if err != nil {
		return block.ObjectInfo{}, err
	}
	contentType := opts.ContentType
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if uint64(size) <= s.cfg.PartSize {
		switch b := r.(type) {
		case *bytes.Buffer:
			if size == int64(b.Len()) {
				return s.putBytes(ctx, bucket, key, b, contentType, meta)
			}
		case *io.SectionReader:
			if size == b.Size() {
				return s.putSection(ctx, bucket, key, b, contentType, meta)
			}
		}
	}
	body := r
	if size >= 0 {
		if err := checkLength(r, size); err != nil {
			return block.ObjectInfo{}, fmt.Errorf("s3: put %s/%s: %w", bucket, key, err)
		}
		if _, readerAt := r.(io.ReaderAt); !readerAt {
			// Exactly size bytes; a short body fails the upload. Readers
			// with ReadAt (files) are passed as they are, so that minio-go
			// can upload their parts in parallel.
			body = &exactReader{r: r, left: size}
		}
	}
	up, err := s.client.PutObject(ctx, bucket, key, body, size, minio.PutObjectOptions{
		ContentType:  contentType,
		UserMetadata: meta,
		PartSize:     s.cfg.PartSize,
	})
	if err != nil {
		var short *shortBodyError
		if errors.As(err, &short) {
			return block.ObjectInfo{}, fmt.Errorf("s3: put %s/%s: %w", bucket, key, short)
		}
		return block.ObjectInfo{}, mapError("put", bucket, key, err)
	}
	return uploaded(bucket, key, up, contentType, meta), nil
}

// putBytes uploads the bytes of b in one request that carries their MD5
// and SHA-256, which the store checks, and reads b to its end. Over plain
// HTTP, minio-go signs a body it cannot hash beforehand chunk by chunk,
// with buffers of its own for each upload and more work for the store;
// bytes in memory are hashed in a fraction of that, and can be sent again
// when a request is retried.
func (s *Store) putBytes(ctx context.Context, bucket, key string, b *bytes.Buffer, contentType string, meta map[string]string) (block.ObjectInfo, error) {
	data := b.Bytes()
	md := md5.Sum(data)
	sha := sha256.Sum256(data)
	info, err := s.putHashed(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), md[:], sha[:], contentType, meta)
	if err == nil {
		b.Reset()
	}
	return info, err
}

// putSection uploads the whole of sr, a part of a file, as putBytes does
// bytes in memory: it reads sr once to hash it, then again to send it, so
// that an upload holds a copy buffer rather than the object.
func (s *Store) putSection(ctx context.Context, bucket, key string, sr *io.SectionReader, contentType string, meta map[string]string) (block.ObjectInfo, error) {
	md, sha := md5.New(), sha256.New()
	buf := copyBuffers.Get().(*[]byte)
	_, err := io.CopyBuffer(io.MultiWriter(md, sha), io.NewSectionReader(sr, 0, sr.Size()), *buf)
	copyBuffers.Put(buf)
	if err != nil {
		return block.ObjectInfo{}, fmt.Errorf("s3: put %s/%s: read body: %w", bucket, key, err)
	}
	// minio-go seeks the body to its start for each attempt.
	return s.putHashed(ctx, bucket, key, sr, sr.Size(), md.Sum(nil), sha.Sum(nil), contentType, meta)
}

// copyBuffers are putSection's buffers for hashing.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// putHashed uploads body, of size bytes with the given MD5 and SHA-256, in
// one request.
func (s *Store) putHashed(ctx context.Context, bucket, key string, body io.Reader, size int64, md, sha []byte, contentType string, meta map[string]string) (block.ObjectInfo, error) {
	up, err := s.core.PutObject(ctx, bucket, key, body, size,
		base64.StdEncoding.EncodeToString(md), hex.EncodeToString(sha),
		minio.PutObjectOptions{ContentType: contentType, UserMetadata: meta, DisableContentSha256: true})
	if err != nil {
		return block.ObjectInfo{}, mapError("put", bucket, key, err)
	}
	return uploaded(bucket, key, up, contentType, meta), nil
}

// uploaded describes the object an upload made.
func uploaded(bucket, key string, up minio.UploadInfo, contentType string, meta map[string]string) block.ObjectInfo {
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now().UTC()
	}
	return block.ObjectInfo{
		Bucket: bucket, Key: key, Size: up.Size, ETag: strings.Trim(up.ETag, `"`),
		LastModified: mod, ContentType: contentType, Metadata: meta,
	}
}

// Get opens bucket/key, or the bytes rng selects; the returned ObjectInfo
// describes the whole object. A range must start inside the object
// (0 <= Offset < Size), else the error wraps block.ErrInvalidRange.
func (s *Store) Get(ctx context.Context, bucket, key string, rng *block.Range) (io.ReadCloser, block.ObjectInfo, error) {
	if err := block.ValidateKey(key); err != nil {
		return nil, block.ObjectInfo{}, err
	}
	var opts minio.GetObjectOptions
	if rng != nil {
		if rng.Offset < 0 {
			return nil, block.ObjectInfo{}, fmt.Errorf("s3: get %s/%s: %w: negative offset %d", bucket, key, block.ErrInvalidRange, rng.Offset)
		}
		if rng.Length == 0 {
			// HTTP cannot ask for zero bytes: check the offset, read nothing.
			info, err := s.Stat(ctx, bucket, key)
			if err != nil {
				return nil, block.ObjectInfo{}, err
			}
			if rng.Offset >= info.Size {
				return nil, block.ObjectInfo{}, fmt.Errorf("s3: get %s/%s: %w: offset %d of a %d-byte object", bucket, key, block.ErrInvalidRange, rng.Offset, info.Size)
			}
			return io.NopCloser(bytes.NewReader(nil)), info, nil
		}
		if rng.Length < 0 {
			opts.Set("Range", fmt.Sprintf("bytes=%d-", rng.Offset))
		} else {
			opts.Set("Range", fmt.Sprintf("bytes=%d-%d", rng.Offset, rng.Offset+rng.Length-1))
		}
	}
	rc, oi, h, err := s.core.GetObject(ctx, bucket, key, opts)
	if err != nil {
		return nil, block.ObjectInfo{}, mapError("get", bucket, key, err)
	}
	info := objectInfo(bucket, oi)
	if rng != nil {
		// Content-Range: bytes first-last/total
		cr := h.Get("Content-Range")
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if total, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				info.Size = total
			}
		}
	}
	return rc, info, nil
}

// Stat describes bucket/key.
func (s *Store) Stat(ctx context.Context, bucket, key string) (block.ObjectInfo, error) {
	if err := block.ValidateKey(key); err != nil {
		return block.ObjectInfo{}, err
	}
	oi, err := s.client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return block.ObjectInfo{}, mapError("stat", bucket, key, err)
	}
	return objectInfo(bucket, oi), nil
}

// Delete removes bucket/key; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := block.ValidateKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return mapError("delete", bucket, key, err)
	}
	return nil
}

// DeleteMany removes up to block.MaxDeleteBatch keys with one multi-object
// delete request and reports the keys that failed. Invalid keys are
// reported without being sent. A missing bucket is an error of the whole
// call.
func (s *Store) DeleteMany(ctx context.Context, bucket string, keys []string) ([]block.DeleteError, error) {
	if len(keys) > block.MaxDeleteBatch {
		return nil, fmt.Errorf("s3: delete %d keys: %w", len(keys), block.ErrTooManyKeys)
	}
	var failed []block.DeleteError
	valid := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := block.ValidateKey(k); err != nil {
			failed = append(failed, block.DeleteError{Key: k, Err: err})
			continue
		}
		valid = append(valid, k)
	}
	if len(valid) == 0 {
		return failed, nil
	}
	objects := make(chan minio.ObjectInfo, len(valid))
	for _, k := range valid {
		objects <- minio.ObjectInfo{Key: k}
	}
	close(objects)
	var whole error
	for rerr := range s.client.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		err := mapError("delete", bucket, rerr.ObjectName, rerr.Err)
		if errors.Is(err, block.ErrBucketNotFound) || rerr.ObjectName == "" {
			// Not about one key: the request as a whole failed.
			if whole == nil {
				whole = err
			}
			continue
		}
		failed = append(failed, block.DeleteError{Key: rerr.ObjectName, Err: err})
	}
	if whole != nil {
		return failed, whole
	}
	if err := ctx.Err(); err != nil {
		return failed, err
	}
	return failed, nil
}

// PresignGet returns a URL that reads bucket/key until expiry (at most 7
// days).
func (s *Store) PresignGet(ctx context.Context, bucket, key string, expiry time.Duration) (string, error) {
	if err := checkPresign(key, expiry); err != nil {
		return "", err
	}
	u, err := s.client.PresignedGetObject(ctx, bucket, key, expiry, nil)
	if err != nil {
		return "", mapError("presign get", bucket, key, err)
	}
	return u.String(), nil
}

// PresignPut returns a URL that writes bucket/key with a plain HTTP PUT
// until expiry (at most 7 days).
func (s *Store) PresignPut(ctx context.Context, bucket, key string, expiry time.Duration) (string, error) {
	if err := checkPresign(key, expiry); err != nil {
		return "", err
	}
	u, err := s.client.PresignedPutObject(ctx, bucket, key, expiry)
	if err != nil {
		return "", mapError("presign put", bucket, key, err)
	}
	return u.String(), nil
}

func checkPresign(key string, expiry time.Duration) error {
	if err := block.ValidateKey(key); err != nil {
		return err
	}
	if expiry < time.Second || expiry > maxPresignExpiry {
		return fmt.Errorf("%w: presign expiry %s: want 1s to 7 days", store.ErrInvalidValue, expiry)
	}
	return nil
}

// objectInfo converts minio-go's description of an object.
func objectInfo(bucket string, oi minio.ObjectInfo) block.ObjectInfo {
	info := block.ObjectInfo{
		Bucket:       bucket,
		Key:          oi.Key,
		Size:         oi.Size,
		ETag:         strings.Trim(oi.ETag, `"`),
		LastModified: oi.LastModified,
		ContentType:  oi.ContentType,
	}
	if len(oi.UserMetadata) > 0 {
		info.Metadata = make(map[string]string, len(oi.UserMetadata))
		for k, v := range oi.UserMetadata {
			info.Metadata[strings.ToLower(k)] = v
		}
	}
	return info
}

// checkLength fails early when r can seek and holds fewer than size bytes
// from its current position.
func checkLength(r io.Reader, size int64) error {
	sk, ok := r.(io.Seeker)
	if !ok {
		return nil
	}
	cur, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil // not really seekable: the upload checks as it reads
	}
	end, err := sk.Seek(0, io.SeekEnd)
	if _, serr := sk.Seek(cur, io.SeekStart); err != nil || serr != nil {
		if serr != nil {
			return serr
		}
		return nil
	}
	if end-cur < size {
		return &shortBodyError{got: end - cur, want: size}
	}
	return nil
}

// exactReader reads exactly left bytes from r and fails when r ends early.
type exactReader struct {
	r    io.Reader
	left int64
	read int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	e.read += int64(n)
	if err == io.EOF && e.left > 0 {
		return n, &shortBodyError{got: e.read, want: e.read + e.left}
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// shortBodyError reports a Put body shorter than its declared size.
type shortBodyError struct{ got, want int64 }

func (e *shortBodyError) Error() string {
	return fmt.Sprintf("body has %d bytes, want %d", e.got, e.want)
}

func (e *shortBodyError) Unwrap() error { return store.ErrInvalid }
