package auth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/bolt"
)

func newKV(t *testing.T) kv.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatalf("open bolt: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fakeClock is a settable clock for the verification cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCreateAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	s := New(newKV(t))

	has, err := s.HasAnyCredentials(ctx)
	if err != nil || has {
		t.Fatalf("HasAnyCredentials on empty store = %v, %v; want false, nil", has, err)
	}
	id, secret, err := s.CreateCredentials(ctx, "admin")
	if err != nil {
		t.Fatalf("CreateCredentials: %v", err)
	}
	if len(id) != AccessKeyIDLength || !strings.HasPrefix(id, "AKIA") {
		t.Errorf("access key id %q: want %d characters starting with AKIA", id, AccessKeyIDLength)
	}
	if len(secret) != SecretLength {
		t.Errorf("secret has %d characters, want %d", len(secret), SecretLength)
	}
	has, err = s.HasAnyCredentials(ctx)
	if err != nil || !has {
		t.Fatalf("HasAnyCredentials after create = %v, %v; want true, nil", has, err)
	}

	u, err := s.Authenticate(ctx, id, secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if u.Name != "admin" || u.CreationDate.IsZero() {
		t.Errorf("user = %+v, want admin with a creation date", u)
	}

	// The secret with its last character changed (to one it is not).
	last := "x"
	if strings.HasSuffix(secret, last) {
		last = "y"
	}
	bad := []struct {
		name, id, secret string
	}{
		{"wrong secret", id, secret[:len(secret)-1] + last},
		{"unknown key", "AKIAJUNKNOWNUNKNOWN1", secret},
		{"empty key", "", secret},
		{"empty secret", id, ""},
		{"secret with space", id, "a b"},
		{"huge secret", id, strings.Repeat("s", MaxSecretLength+1)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Authenticate(ctx, tc.id, tc.secret)
			if !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Authenticate = %v, want ErrInvalidCredentials wrapping store.ErrInvalid", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q reveals the secret", err)
			}
		})
	}
}

func TestSecretsAreNotStored(t *testing.T) {
	ctx := context.Background()
	kvs := newKV(t)
	s := New(kvs)
	id, secret, err := s.CreateCredentials(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportCredentials(ctx, "bob", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"); err != nil {
		t.Fatal(err)
	}
	entries, err := kvs.Scan(ctx, Partition, kv.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 4 {
		t.Fatalf("auth partition has %d records, want at least 2 credentials and 2 users", len(entries))
	}
	for _, e := range entries {
		for _, sec := range []string{secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"} {
			if strings.Contains(string(e.Value), sec) {
				t.Errorf("record %q holds a secret in clear", e.Key)
			}
		}
		if strings.HasPrefix(e.Key, credentialsPrefix) && !strings.Contains(string(e.Value), "$argon2id$") {
			t.Errorf("credential record %q has no argon2id hash: %s", e.Key, e.Value)
		}
	}
	if _, err := s.Authenticate(ctx, id, secret); err != nil {
		t.Fatal(err)
	}
}

func TestImportCredentials(t *testing.T) {
	ctx := context.Background()
	s := New(newKV(t))
	const id, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

	if err := s.ImportCredentials(ctx, "admin", id, secret); err != nil {
		t.Fatalf("first import: %v", err)
	}
	if err := s.ImportCredentials(ctx, "admin", id, secret); err != nil {
		t.Fatalf("import again (idempotent): %v", err)
	}
	if _, err := s.Authenticate(ctx, id, secret); err != nil {
		t.Fatalf("Authenticate imported: %v", err)
	}
	// A new secret replaces the old one at once, cache included.
	const secret2 = "another-secret-of-forty-characters-00000"
	if err := s.ImportCredentials(ctx, "admin", id, secret2); err != nil {
		t.Fatalf("import new secret: %v", err)
	}
	if _, err := s.Authenticate(ctx, id, secret); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("old secret after replacement: %v, want ErrInvalidCredentials", err)
	}
	if _, err := s.Authenticate(ctx, id, secret2); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	if err := s.ImportCredentials(ctx, "mallory", id, "whatever"); !errors.Is(err, ErrCredentialsExist) || !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("import another user's key id: %v, want ErrCredentialsExist", err)
	}

	invalid := []struct{ name, user, id, secret string }{
		{"empty user", "", id, secret},
		{"user with space", "a b", id, secret},
		{"empty key id", "admin", "", secret},
		{"key id with colon", "admin", "AKIA:X", secret},
		{"long key id", "admin", strings.Repeat("A", MaxAccessKeyIDLength+1), secret},
		{"empty secret", "admin", "AKIANEW", ""},
		{"non-ASCII secret", "admin", "AKIANEW", "sécret"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.ImportCredentials(ctx, tc.user, tc.id, tc.secret); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("ImportCredentials = %v, want store.ErrInvalid", err)
			}
		})
	}
}

func TestVerificationCache(t *testing.T) {
	ctx := context.Background()
	kvs := newKV(t)
	s := New(kvs)
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.now = clock.Now

	id, secret, err := s.CreateCredentials(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, id, secret); err != nil {
		t.Fatal(err)
	}
	// Remove the record behind the store's back: within the cache's
	// lifetime the verified pair is still accepted without a KV read...
	if err := kvs.Delete(ctx, Partition, credentialsPrefix+id); err != nil {
		t.Fatal(err)
	}
	clock.Advance(cacheTTL - time.Second)
	if _, err := s.Authenticate(ctx, id, secret); err != nil {
		t.Fatalf("within the cache lifetime: %v", err)
	}
	// ...a different secret never is...
	if _, err := s.Authenticate(ctx, id, secret+"x"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("other secret: %v, want ErrInvalidCredentials", err)
	}
	// ...and after the lifetime the store is asked again.
	clock.Advance(2 * time.Second)
	if _, err := s.Authenticate(ctx, id, secret); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("after the cache lifetime: %v, want ErrInvalidCredentials", err)
	}
}

func TestSetup(t *testing.T) {
	ctx := context.Background()

	t.Run("generated then refused", func(t *testing.T) {
		s := New(newKV(t))
		id, secret, err := s.Setup(ctx, "admin", "", "")
		if err != nil {
			t.Fatalf("Setup: %v", err)
		}
		if _, err := s.Authenticate(ctx, id, secret); err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if _, _, err := s.Setup(ctx, "admin2", "", ""); !errors.Is(err, ErrAlreadySetUp) {
			t.Fatalf("second Setup: %v, want ErrAlreadySetUp", err)
		}
	})
	t.Run("given key", func(t *testing.T) {
		s := New(newKV(t))
		id, secret, err := s.Setup(ctx, "admin", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
		if err != nil || id != "AKIAIOSFODNN7EXAMPLE" {
			t.Fatalf("Setup = %q, %v", id, err)
		}
		if _, err := s.Authenticate(ctx, id, secret); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("after imported credentials", func(t *testing.T) {
		s := New(newKV(t))
		if err := s.ImportCredentials(ctx, "admin", "AKIAIOSFODNN7EXAMPLE", "secret"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Setup(ctx, "admin", "", ""); !errors.Is(err, ErrAlreadySetUp) || !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("Setup = %v, want ErrAlreadySetUp", err)
		}
	})
	t.Run("invalid user", func(t *testing.T) {
		s := New(newKV(t))
		if _, _, err := s.Setup(ctx, "", "", ""); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Setup = %v, want store.ErrInvalid", err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		s := New(newKV(t))
		var wg sync.WaitGroup
		var ok, refused atomic.Int32
		for range 8 {
			wg.Go(func() {
				_, _, err := s.Setup(ctx, "admin", "", "")
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrAlreadySetUp):
					refused.Add(1)
				default:
					t.Errorf("Setup: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 7 {
			t.Fatalf("%d setups succeeded and %d were refused, want 1 and 7", ok.Load(), refused.Load())
		}
	})
}

func TestVerifySecretRejectsMalformedHashes(t *testing.T) {
	good, err := hashSecret("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := verifySecret(good, "s3cret"); err != nil || !ok {
		t.Fatalf("verify good hash = %v, %v", ok, err)
	}
	if ok, err := verifySecret(good, "other"); err != nil || ok {
		t.Fatalf("verify wrong secret = %v, %v", ok, err)
	}
	bad := []string{
		"",
		"plain",
		"$bcrypt$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=0,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!!$aGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
	}
	for _, h := range bad {
		if _, err := verifySecret(h, "s3cret"); !errors.Is(err, errBadHash) {
			t.Errorf("verifySecret(%q) = %v, want errBadHash", h, err)
		}
	}
}

// countingKV counts reads of one key of a real store.
type countingKV struct {
	kv.Store
	key   string
	reads atomic.Int64
}

func (c *countingKV) Get(ctx context.Context, partition, key string) ([]byte, error) {
	if key == c.key {
		c.reads.Add(1)
	}
	return c.Store.Get(ctx, partition, key)
}

// TestConcurrentVerificationShared: when a cached pair expires, concurrent
// requests with it share one verification instead of each paying for the
// slow hash.
func TestConcurrentVerificationShared(t *testing.T) {
	ctx := context.Background()
	base := newKV(t)
	s := New(base)
	id, secret, err := s.CreateCredentials(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingKV{Store: base, key: credentialsPrefix + id}
	s = New(counting)
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Authenticate(ctx, id, secret)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if r := counting.reads.Load(); r >= n/2 {
		t.Fatalf("%d concurrent requests verified the secret %d times; want them to share", n, r)
	}
}
