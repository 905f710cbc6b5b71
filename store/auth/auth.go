// Package auth keeps lakeq's API credentials: access key ids and secret
// access keys in the style of lakeFS and S3, each belonging to a user.
//
// Credentials live in the metadata KV (partition "auth"). Secrets are never
// stored: only a salted argon2id hash of each is. Because the hash is slow
// on purpose, a Store remembers for one minute which (access key id,
// SHA-256 of secret) pairs it has verified, so that a client sending the
// same credentials on every request pays for the hash about once a minute.
// Secrets are never logged and never appear in errors.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sync/singleflight"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// Partition is the KV partition every auth record lives in.
const Partition = "auth"

const (
	credentialsPrefix = "credentials/"
	usersPrefix       = "users/"
	setupKey          = "setup"

	// accessKeyPrefix starts every generated access key id, as in lakeFS
	// and AWS.
	accessKeyPrefix = "AKIAJ"
	// AccessKeyIDLength is the length of a generated access key id.
	AccessKeyIDLength = 20
	// SecretLength is the length of a generated secret access key.
	SecretLength = 40

	// MaxAccessKeyIDLength and MaxSecretLength bound imported credentials.
	MaxAccessKeyIDLength = 128
	MaxSecretLength      = 128
	// MaxUserNameLength bounds a user name.
	MaxUserNameLength = 128

	// cacheTTL is how long a verified credential pair is trusted without
	// hashing again.
	cacheTTL = time.Minute
	// cacheSize bounds the number of remembered pairs.
	cacheSize = 1024
)

// User is the owner of credentials; API requests act as a user.
type User struct {
	// Name identifies the user; it is the committer of the user's commits.
	Name string `json:"name"`
	// CreationDate is when the user was first given credentials.
	CreationDate time.Time `json:"creation_date"`
}

// credential is the stored record of one access key.
type credential struct {
	AccessKeyID  string    `json:"access_key_id"`
	UserName     string    `json:"user_name"`
	SecretHash   string    `json:"secret_hash"`
	CreationDate time.Time `json:"creation_date"`
}

type cacheEntry struct {
	user    User
	expires time.Time
}

// Store keeps users and their credentials in a KV store. It is safe for
// concurrent use. Several processes may share one KV: a credential replaced
// by ImportCredentials in one process may still be accepted by another for
// up to one minute (the verification cache's lifetime).
type Store struct {
	kv  kv.Store
	now func() time.Time

	mu    sync.Mutex // serialises cache purges with inserts
	cache *lru.Cache[string, cacheEntry]
	// verifying shares one slow verification among concurrent requests
	// with the same credentials.
	verifying singleflight.Group
}

// New returns a Store over s.
func New(s kv.Store) *Store {
	c, err := lru.New[string, cacheEntry](cacheSize)
	if err != nil {
		// Only a non-positive size fails, and cacheSize is a positive constant.
		panic(err)
	}
	return &Store{kv: s, now: time.Now, cache: c}
}

// CreateCredentials creates a new access key id and secret for userName,
// creating the user if it does not exist yet. The secret is returned once
// and cannot be recovered later.
func (s *Store) CreateCredentials(ctx context.Context, userName string) (accessKeyID, secret string, err error) {
	if err := validateUserName(userName); err != nil {
		return "", "", err
	}
	const attempts = 5
	for range attempts {
		accessKeyID = accessKeyPrefix + randomString(AccessKeyIDLength-len(accessKeyPrefix), accessKeyAlphabet)
		secret = randomString(SecretLength, secretAlphabet)
		err = s.putCredential(ctx, userName, accessKeyID, secret, nil)
		if errors.Is(err, kv.ErrPredicateFailed) {
			continue // a key id collision: draw again
		}
		if err != nil {
			return "", "", err
		}
		return accessKeyID, secret, nil
	}
	return "", "", fmt.Errorf("create credentials for %q: %w", userName, store.ErrTooManyRetries)
}

// ImportCredentials stores accessKeyID with secret for userName, creating
// the user if needed. It is idempotent: importing the same pair again does
// nothing, and importing a new secret for an access key id that already
// belongs to userName replaces the secret. An access key id that belongs to
// another user is an error wrapping store.ErrAlreadyExists.
func (s *Store) ImportCredentials(ctx context.Context, userName, accessKeyID, secret string) error {
	if err := validateUserName(userName); err != nil {
		return err
	}
	if err := validateAccessKeyID(accessKeyID); err != nil {
		return err
	}
	if err := validateSecret(secret); err != nil {
		return err
	}
	old, raw, err := s.getCredential(ctx, accessKeyID)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		err = s.putCredential(ctx, userName, accessKeyID, secret, nil)
		if errors.Is(err, kv.ErrPredicateFailed) {
			return fmt.Errorf("import credentials %s: %w", accessKeyID, ErrCredentialsExist)
		}
		return err
	case err != nil:
		return err
	}
	if old.UserName != userName {
		return fmt.Errorf("import credentials %s for %q: %w", accessKeyID, userName, ErrCredentialsExist)
	}
	if ok, err := verifySecret(old.SecretHash, secret); err == nil && ok {
		return nil
	}
	if err := s.putCredential(ctx, userName, accessKeyID, secret, raw); err != nil {
		if errors.Is(err, kv.ErrPredicateFailed) {
			return fmt.Errorf("import credentials %s: changed concurrently: %w", accessKeyID, store.ErrConflict)
		}
		return err
	}
	s.purgeCache()
	return nil
}

// Authenticate returns the user that owns accessKeyID if secret is its
// secret, and an error wrapping ErrInvalidCredentials otherwise (unknown
// key id or wrong secret alike). Other errors come from the KV store.
func (s *Store) Authenticate(ctx context.Context, accessKeyID, secret string) (User, error) {
	if validateAccessKeyID(accessKeyID) != nil || validateSecret(secret) != nil {
		return User{}, ErrInvalidCredentials
	}
	sum := sha256.Sum256([]byte(secret))
	cacheKey := accessKeyID + "\x00" + string(sum[:])
	now := s.now()
	if e, ok := s.cache.Get(cacheKey); ok {
		if now.Before(e.expires) {
			return e.user, nil
		}
		s.cache.Remove(cacheKey)
	}

	// Requests with the same credentials share one verification, so that an
	// expired cache entry costs one slow hash, not one per request in flight.
	v, err, _ := s.verifying.Do(cacheKey, func() (any, error) {
		return s.verify(context.WithoutCancel(ctx), accessKeyID, secret)
	})
	if err != nil {
		return User{}, err
	}
	user := v.(User)
	s.mu.Lock()
	s.cache.Add(cacheKey, cacheEntry{user: user, expires: now.Add(cacheTTL)})
	s.mu.Unlock()
	return user, nil
}

// verify checks secret against the stored hash of accessKeyID's secret.
func (s *Store) verify(ctx context.Context, accessKeyID, secret string) (User, error) {
	cred, _, err := s.getCredential(ctx, accessKeyID)
	if errors.Is(err, kv.ErrNotFound) {
		// Spend the same time as a wrong secret, so that response times do
		// not tell which access key ids exist.
		_, _ = verifySecret(dummyHash(), secret)
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("authenticate %s: %w", accessKeyID, err)
	}
	ok, err := verifySecret(cred.SecretHash, secret)
	if err != nil {
		return User{}, fmt.Errorf("authenticate %s: %w", accessKeyID, err)
	}
	if !ok {
		return User{}, ErrInvalidCredentials
	}
	user, err := s.getUser(ctx, cred.UserName)
	if err != nil {
		return User{}, fmt.Errorf("authenticate %s: %w", accessKeyID, err)
	}
	return user, nil
}

// Setup gives the first user of an installation its credentials, once:
// it fails with an error wrapping ErrAlreadySetUp when Setup already ran
// (in any process sharing the KV) or when credentials already exist (for
// instance imported at start-up). With accessKeyID and secret both empty it
// generates them, as CreateCredentials does; otherwise it stores the given
// pair, as ImportCredentials does.
func (s *Store) Setup(ctx context.Context, userName, accessKeyID, secret string) (string, string, error) {
	if err := validateUserName(userName); err != nil {
		return "", "", err
	}
	generate := accessKeyID == "" && secret == ""
	if !generate {
		if err := validateAccessKeyID(accessKeyID); err != nil {
			return "", "", err
		}
		if err := validateSecret(secret); err != nil {
			return "", "", err
		}
	}
	if exists, err := s.HasAnyCredentials(ctx); err != nil {
		return "", "", err
	} else if exists {
		return "", "", ErrAlreadySetUp
	}
	// Claim the setup, so that of two concurrent callers only one proceeds.
	marker, err := json.Marshal(struct {
		User string    `json:"user"`
		Date time.Time `json:"date"`
	}{userName, s.now().UTC()})
	if err != nil {
		return "", "", fmt.Errorf("encode setup marker: %w", err)
	}
	if err := s.kv.SetIf(ctx, Partition, setupKey, marker, nil); err != nil {
		if errors.Is(err, kv.ErrPredicateFailed) {
			return "", "", ErrAlreadySetUp
		}
		return "", "", fmt.Errorf("setup: %w", err)
	}
	if generate {
		return s.CreateCredentials(ctx, userName)
	}
	if err := s.ImportCredentials(ctx, userName, accessKeyID, secret); err != nil {
		return "", "", err
	}
	return accessKeyID, secret, nil
}

// HasAnyCredentials reports whether at least one credential exists, which
// is how lakeq tells an installation that still needs its first user.
func (s *Store) HasAnyCredentials(ctx context.Context) (bool, error) {
	page, err := s.kv.Scan(ctx, Partition, kv.ScanOptions{Prefix: credentialsPrefix, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("list credentials: %w", err)
	}
	return len(page) > 0, nil
}

// GetUser returns the user named name, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, name string) (User, error) {
	if err := validateUserName(name); err != nil {
		return User{}, err
	}
	return s.getUser(ctx, name)
}

func (s *Store) purgeCache() {
	s.mu.Lock()
	s.cache.Purge()
	s.mu.Unlock()
}

// putCredential writes the user record (if absent) and the credential
// record, conditionally on the credential's current raw value pred (nil:
// only if absent).
func (s *Store) putCredential(ctx context.Context, userName, accessKeyID, secret string, pred []byte) error {
	hash, err := hashSecret(secret)
	if err != nil {
		return fmt.Errorf("hash secret: %w", err)
	}
	now := s.now().UTC().Truncate(time.Second)
	if err := s.ensureUser(ctx, userName, now); err != nil {
		return err
	}
	rec := credential{AccessKeyID: accessKeyID, UserName: userName, SecretHash: hash, CreationDate: now}
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode credential: %w", err)
	}
	if err := s.kv.SetIf(ctx, Partition, credentialsPrefix+accessKeyID, val, pred); err != nil {
		return fmt.Errorf("store credential %s: %w", accessKeyID, err)
	}
	return nil
}

func (s *Store) ensureUser(ctx context.Context, name string, now time.Time) error {
	val, err := json.Marshal(User{Name: name, CreationDate: now})
	if err != nil {
		return fmt.Errorf("encode user: %w", err)
	}
	err = s.kv.SetIf(ctx, Partition, usersPrefix+name, val, nil)
	if err != nil && !errors.Is(err, kv.ErrPredicateFailed) {
		return fmt.Errorf("store user %q: %w", name, err)
	}
	return nil
}

func (s *Store) getUser(ctx context.Context, name string) (User, error) {
	raw, err := s.kv.Get(ctx, Partition, usersPrefix+name)
	if errors.Is(err, kv.ErrNotFound) {
		return User{}, fmt.Errorf("user %q: %w", name, ErrUserNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %q: %w", name, err)
	}
	var u User
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, fmt.Errorf("decode user %q: %w", name, err)
	}
	return u, nil
}

func (s *Store) getCredential(ctx context.Context, accessKeyID string) (credential, []byte, error) {
	raw, err := s.kv.Get(ctx, Partition, credentialsPrefix+accessKeyID)
	if err != nil {
		return credential{}, nil, fmt.Errorf("get credential %s: %w", accessKeyID, err)
	}
	var c credential
	if err := json.Unmarshal(raw, &c); err != nil {
		return credential{}, nil, fmt.Errorf("decode credential %s: %w", accessKeyID, err)
	}
	return c, raw, nil
}

const (
	accessKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randomString draws n characters uniformly from alphabet, whose length
// must divide 256.
func randomString(n int, alphabet string) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on supported platforms
	}
	var b strings.Builder
	b.Grow(n)
	for _, c := range buf {
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return b.String()
}

func validateUserName(name string) error {
	if name == "" || len(name) > MaxUserNameLength {
		return fmt.Errorf("%w: user name must be 1-%d characters", store.ErrInvalidValue, MaxUserNameLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: user name %q: only printable ASCII without spaces", store.ErrInvalidValue, name)
		}
	}
	return nil
}

func validateAccessKeyID(id string) error {
	if id == "" || len(id) > MaxAccessKeyIDLength {
		return fmt.Errorf("%w: access key id must be 1-%d characters", store.ErrInvalidValue, MaxAccessKeyIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e || c == ':' {
			return fmt.Errorf("%w: access key id: only printable ASCII without spaces or ':'", store.ErrInvalidValue)
		}
	}
	return nil
}

func validateSecret(secret string) error {
	if secret == "" || len(secret) > MaxSecretLength {
		return fmt.Errorf("%w: secret access key must be 1-%d characters", store.ErrInvalidValue, MaxSecretLength)
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: secret access key: only printable ASCII without spaces", store.ErrInvalidValue)
		}
	}
	return nil
}
