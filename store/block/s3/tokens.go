package s3

import (
	"container/list"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache remembers the continuation token that follows each truncated
// page List returned, so that the next List (StartAfter = the page's last
// key) continues the endpoint's own listing instead of starting a new one
// at StartAfter. A token is used once and kept for a short while only, so a
// later listing from the same key starts afresh and sees later writes.
type tokenCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	order *list.List // of *tokenEntry, oldest first
	byKey map[string]*list.Element
}

type tokenEntry struct {
	key   string
	token string
	added time.Time
}

func newTokenCache(max int, ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

func tokenKey(bucket, prefix, delimiter, after string) string {
	return bucket + "\x00" + prefix + "\x00" + delimiter + "\x00" + after
}

// put remembers token under key, evicting the oldest entry when full.
func (c *tokenCache) put(key, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.Remove(e)
	}
	c.byKey[key] = c.order.PushBack(&tokenEntry{key: key, token: token, added: time.Now()})
	for c.order.Len() > c.max {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*tokenEntry).key)
	}
}

// take returns and forgets the token under key, if it is fresh.
func (c *tokenCache) take(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return "", false
	}
	c.order.Remove(e)
	delete(c.byKey, key)
	te := e.Value.(*tokenEntry)
	if time.Since(te.added) > c.ttl {
		return "", false
	}
	return te.token, true
}

// Server kinds the sniffer tells apart.
const (
	serverUnknown int32 = iota
	serverMinIO
	serverOther
)

// serverSniffer is the client's HTTP transport; it notes from the Server
// header of responses whether the endpoint is MinIO.
type serverSniffer struct {
	next http.RoundTripper
	kind atomic.Int32
}

func (t *serverSniffer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		if strings.HasPrefix(resp.Header.Get("Server"), "MinIO") {
			t.kind.Store(serverMinIO)
		} else {
			t.kind.CompareAndSwap(serverUnknown, serverOther)
		}
	}
	return resp, err
}
