package kv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A Leaser keeps the leases of locks by its own clock (a server's), so
// that the processes sharing a lock need not agree on the time. Lock takes
// its leases through it when the store is one; other stores' leases expire
// by the clock of the process that reads them.
type Leaser interface {
	// Lease stores a lease of token for ttl under key, when the key is
	// absent or holds a lease that has run out by the store's clock, and
	// returns the value it stored. It returns nil, and writes nothing,
	// while a live lease holds the key.
	Lease(ctx context.Context, partition, key, token string, ttl time.Duration) ([]byte, error)
}

// Lock takes the lock named key in partition of s, shared by every process
// of the store, waiting while another holder has it, and returns the
// function that releases it. The lock is a lease: a holder that neither
// releases it nor ends within ttl (a process that died in its section)
// loses it to the next taker, so a section under a lock must end well
// within ttl. Lock fails only with ctx's error or the store's.
func Lock(ctx context.Context, s Store, partition, key string, ttl time.Duration) (release func(), err error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(id[:])
	take := func() ([]byte, error) { return takeLease(ctx, s, partition, key, token, ttl) }
	if l, ok := s.(Leaser); ok {
		take = func() ([]byte, error) { return l.Lease(ctx, partition, key, token, ttl) }
	}
	wait := time.Millisecond
	for {
		mine, err := take()
		if err != nil {
			return nil, fmt.Errorf("lock %s/%s: %w", partition, key, err)
		}
		if mine != nil {
			return func() {
				// Released even when ctx has ended; a store that does not
				// answer leaves the lease to run out.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
				defer cancel()
				_ = s.DeleteIf(rctx, partition, key, mine)
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// takeLease stores a lease of token for ttl under key when the key is
// absent or its lease has run out by this process's clock, and returns the
// value stored, or nil while another lease holds.
func takeLease(ctx context.Context, s Store, partition, key, token string, ttl time.Duration) ([]byte, error) {
	for {
		mine := []byte(token + " " + strconv.FormatInt(time.Now().Add(ttl).UnixNano(), 10))
		err := s.SetIf(ctx, partition, key, mine, nil)
		if err == nil {
			return mine, nil
		}
		if !errors.Is(err, ErrPredicateFailed) {
			return nil, err
		}
		held, err := s.Get(ctx, partition, key)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // released meanwhile
		case err != nil:
			return nil, err
		case !leaseExpired(held):
			return nil, nil
		}
		err = s.SetIf(ctx, partition, key, mine, held)
		switch {
		case err == nil:
			return mine, nil
		case errors.Is(err, ErrPredicateFailed):
			return nil, nil // another taker was first
		default:
			return nil, err
		}
	}
}

// releaseTimeout bounds the release of a lock.
const releaseTimeout = 5 * time.Second

// leaseExpired reports whether the lease held, "<token> <expiry in unix
// nanoseconds>", is past its expiry. A value that is not a lease counts as
// expired, so that it cannot hold the lock for ever.
func leaseExpired(held []byte) bool {
	_, expiry, ok := strings.Cut(string(held), " ")
	if !ok {
		return true
	}
	n, err := strconv.ParseInt(expiry, 10, 64)
	return err != nil || time.Now().UnixNano() > n
}
