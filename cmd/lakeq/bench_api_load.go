package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// apiBenchScenario is one kind of request `lakeq bench api` sends: a GET of
// one of urls, picked at random for each request.
type apiBenchScenario struct {
	name    string
	request string   // what it sends, for people
	urls    []string // the URLs it picks from
	auth    bool     // send the credentials
}

// maxErrorSamples is how many distinct error messages a phase keeps.
const maxErrorSamples = 5

// newAPIBenchHTTPClient returns an HTTP client that keeps a connection
// alive for each of concurrency clients and never compresses (bodies are
// small JSON, and the server does not compress either).
func newAPIBenchHTTPClient(concurrency int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2 * concurrency,
		MaxIdleConnsPerHost:   2 * concurrency,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		DisableCompression:    true,
	}}
}

// apiBenchPhase is what one timed phase of a scenario saw.
type apiBenchPhase struct {
	requests     int64         // requests that got an answer or failed, errors included
	inWindow     int64         // of them, those that ended by the deadline
	window       time.Duration // the phase's duration
	errors       int64         // transport errors and answers other than 2xx
	errorSamples []string      // the first distinct error messages
	elapsed      time.Duration // from the first request to the end of the last
	latencies    []int64       // nanoseconds, sorted: every request's, or a uniform sample
	sampled      bool          // latencies is a sample
	sum          time.Duration // of every latency, for the mean
	max          time.Duration
}

// runAPIBenchPhase sends sc's requests from concurrency clients, each
// starting its next request when the previous one is answered and its body
// read, until d has passed; requests under way then are waited for and
// their latencies recorded, but only those that ended by then count in the
// throughput. Each client keeps at most maxSamples/concurrency latencies (a
// uniform sample past that). It fails only when ctx ends; failed requests
// are counted in the result.
func runAPIBenchPhase(ctx context.Context, hc *http.Client, auth string, sc apiBenchScenario, concurrency int, d time.Duration, maxSamples int) (*apiBenchPhase, error) {
	perClient := max(1, maxSamples/concurrency)
	clients := make([]apiBenchClient, concurrency)
	start := time.Now()
	deadline := start.Add(d)
	var eg errgroup.Group
	eg.SetLimit(concurrency)
	var mu sync.Mutex
	res := &apiBenchPhase{window: d}
	noteError := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		if len(res.errorSamples) < maxErrorSamples && !slices.Contains(res.errorSamples, msg) {
			res.errorSamples = append(res.errorSamples, msg)
		}
	}
	for i := range clients {
		cl := &clients[i]
		cl.rng = rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))
		cl.capacity = perClient
		eg.Go(func() error {
			for time.Now().Before(deadline) {
				u := sc.urls[cl.rng.IntN(len(sc.urls))]
				lat, msg, err := apiBenchRequest(ctx, hc, u, auth, sc.auth)
				if err != nil {
					return err
				}
				cl.record(lat)
				if time.Now().Before(deadline) {
					cl.inWindow++
				}
				if msg != "" {
					cl.errors++
					noteError(msg)
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	res.elapsed = time.Since(start)
	for i := range clients {
		cl := &clients[i]
		res.requests += cl.seen
		res.inWindow += cl.inWindow
		res.errors += cl.errors
		res.sum += cl.sum
		res.max = max(res.max, cl.max)
		res.sampled = res.sampled || cl.seen > int64(len(cl.latencies))
		res.latencies = append(res.latencies, cl.latencies...)
	}
	slices.Sort(res.latencies)
	return res, nil
}

// apiBenchRequest sends one GET of u and reads the whole answer. It returns
// the time from sending to the end of the body and, for a failed request,
// what went wrong; err is set only when ctx ended.
func apiBenchRequest(ctx context.Context, hc *http.Client, u, auth string, withAuth bool) (lat time.Duration, failure string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", "application/json")
	if withAuth {
		req.Header.Set("Authorization", auth)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
		return time.Since(start), err.Error(), nil
	}
	var head []byte
	if resp.StatusCode/100 != 2 {
		head, _ = io.ReadAll(io.LimitReader(resp.Body, 256))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat = time.Since(start)
	switch {
	case err != nil && ctx.Err() != nil:
		return 0, "", ctx.Err()
	case err != nil:
		return lat, "reading the answer: " + err.Error(), nil
	case resp.StatusCode/100 != 2:
		return lat, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(head))), nil
	}
	return lat, "", nil
}

// apiBenchClient is one client's tally; only its goroutine touches it
// until the phase ends.
type apiBenchClient struct {
	rng       *rand.Rand
	capacity  int
	latencies []int64
	seen      int64
	inWindow  int64
	errors    int64
	sum       time.Duration
	max       time.Duration
}

// record adds one latency: kept while there is room, then in a uniform
// sample of everything seen (reservoir sampling).
func (c *apiBenchClient) record(d time.Duration) {
	c.seen++
	c.sum += d
	c.max = max(c.max, d)
	if len(c.latencies) < c.capacity {
		c.latencies = append(c.latencies, int64(d))
		return
	}
	if j := c.rng.Int64N(c.seen); j < int64(c.capacity) {
		c.latencies[j] = int64(d)
	}
}

// percentile returns the nearest-rank q-quantile (0 < q ≤ 1) of sorted
// latencies, 0 for none.
func percentile(sorted []int64, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return time.Duration(sorted[min(max(i, 0), len(sorted)-1)])
}

// report turns the phase into sc's figures (ratios are filled in later).
func (p *apiBenchPhase) report(sc apiBenchScenario) apiScenarioReport {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r := apiScenarioReport{
		Name: sc.name, Request: sc.request,
		Requests: p.requests, InWindow: p.inWindow, Errors: p.errors, ErrorSamples: p.errorSamples,
		Seconds: p.elapsed.Seconds(), Sampled: p.sampled,
		P50MS: ms(percentile(p.latencies, 0.50)), P90MS: ms(percentile(p.latencies, 0.90)),
		P99MS: ms(percentile(p.latencies, 0.99)), MaxMS: ms(p.max),
	}
	if p.window > 0 {
		r.RPS = float64(p.inWindow) / p.window.Seconds()
	}
	if p.requests > 0 {
		r.MeanMS = ms(p.sum / time.Duration(p.requests))
	}
	return r
}
