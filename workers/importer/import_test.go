package importer_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers/importer"
)

// commitFiles writes and commits small objects at paths on main.
func (e *env) commitFiles(paths ...string) *graph.Commit {
	e.t.Helper()
	for _, p := range paths {
		if _, err := e.graph.WriteObject(e.t.Context(), e.repo, "main", p, strings.NewReader(p), int64(len(p)), graph.WriteOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
	c, err := e.graph.Commit(e.t.Context(), e.repo, "main", graph.CommitParams{Message: "seed"})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// dataObjects counts the objects of the repository's namespace outside
// lakeq's own _lakeq/ files.
func (e *env) dataObjects() int {
	e.t.Helper()
	n := 0
	it := block.ListAll(e.t.Context(), e.s3, e.nsBkt, block.ListOptions{Prefix: "repo/"})
	for it.Next() {
		if !strings.HasPrefix(it.Item().Key, "repo/_lakeq/") {
			n++
		}
	}
	if err := it.Err(); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestImportPrefix imports a prefix with sub-prefixes, objects at its top
// and awkward keys into a/ beside ab/, and checks the commit, the entries,
// and that no object data was copied.
func TestImportPrefix(t *testing.T) {
	e := newEnv(t)
	// Pages of 7 keys: many pages per shard, whose memory the next pages
	// of every shard reuse.
	e.startRunner(importer.Config{PrefixWeight: 10, PageSize: 7}, nil)
	base := e.commitFiles("a/old", "a/sub/old", "ab/keep", "a")
	dataBefore := e.dataObjects()

	var keys []string
	for p := range 6 {
		for i := range 25 {
			keys = append(keys, fmt.Sprintf("in/p%02d/o%03d", p, i))
		}
	}
	for i := range 15 {
		keys = append(keys, fmt.Sprintf("in/top-%02d", i))
	}
	odd := []string{
		"in/with space/file name.txt",
		"in/unicodé/ファイル-ß.csv",
		"in/percent%20and%2Fslash",
		"in/plus+sign+",
		"in/hash#tag#",
		"in/q?x=1&y=2",
		// 1,000-byte keys; MinIO stores keys as files, so no segment
		// exceeds 255 bytes.
		"in/" + strings.TrimSuffix(strings.Repeat(strings.Repeat("k", 248)+"/", 4), "/") + strings.Repeat("z", 5),
		"in/deep/" + strings.Repeat(strings.Repeat("é", 120)+"/", 4) + strings.Repeat("x", 27),
		"in/ab/inside",
	}
	keys = append(keys, odd...)
	e.put(keys...)
	e.put("in-sibling/not-imported", "other/x")

	req := e.prefixReq("in/", "a/")
	req.Commit = jobs.ImportCommit{Message: "import in/", Metadata: map[string]string{"source": "test"}}
	id := e.submit(req)
	res := e.waitCompleted(id, 2*time.Minute)

	if res.Ingested != int64(len(keys)) {
		t.Errorf("ingested %d, want %d", res.Ingested, len(keys))
	}
	j := e.job(id)
	if j.Progress.Tasks < 2 {
		t.Errorf("the import ran in %d tasks, want several shards", j.Progress.Tasks)
	}
	if j.Progress.Done != int64(len(keys)) {
		t.Errorf("progress done %d, want %d", j.Progress.Done, len(keys))
	}
	hist := e.history("main")
	c := hist[0]
	if c.ID != res.CommitID || len(c.Parents) != 1 || c.Parents[0] != base.ID {
		t.Fatalf("head %s (parents %v), want the import's commit %s on %s", c.ID, c.Parents, res.CommitID, base.ID)
	}
	if c.Message != "import in/" || c.Metadata["source"] != "test" || c.Metadata[jobs.MetadataJobID] != string(id) {
		t.Errorf("commit message %q metadata %v", c.Message, c.Metadata)
	}
	got := e.entries(store.Ref("main"), "")
	want := map[string]string{"ab/keep": "", "a": ""}
	for _, k := range keys {
		want["a/"+strings.TrimPrefix(k, "in/")] = "s3://" + e.srcBkt + "/" + k
	}
	if !slices.Equal(keysOf(got), keysOf(want)) {
		t.Fatalf("branch paths:\n%q\nwant:\n%q", keysOf(got), keysOf(want))
	}
	for p, addr := range want {
		ent := got[p]
		if addr == "" {
			if ent.AddressType != store.AddressRelative {
				t.Errorf("%s: untouched entry changed: %+v", p, ent)
			}
			continue
		}
		src := strings.TrimPrefix(addr, "s3://"+e.srcBkt+"/")
		etag := fmt.Sprintf("%x", md5.Sum([]byte(src))) // of an object put in one part
		if ent.Address != addr || ent.AddressType != store.AddressFull || ent.Size != int64(len(src)) || ent.ETag != etag || ent.MTime.IsZero() {
			t.Errorf("%s: entry %+v, want a full address %s of size %d and ETag %s", p, ent, addr, len(src), etag)
		}
	}
	// Imported objects read through the branch from their source.
	rc, _, err := e.graph.ReadObject(t.Context(), e.repo, "main", "a/with space/file name.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	if buf.String() != "in/with space/file name.txt" {
		t.Errorf("read %q through the branch", buf.String())
	}
	if n := e.dataObjects(); n != dataBefore {
		t.Errorf("namespace holds %d data objects after the import, %d before: object data was copied", n, dataBefore)
	}
	if n := e.commitsOf("main", id); n != 1 {
		t.Errorf("%d commits of the import, want 1", n)
	}
	if n := e.workingState(id); n != 0 {
		t.Errorf("%d keys of working state left after the import", n)
	}
}

// TestImportSourcesAndObjects imports overlapping prefixes (merged, the
// later source winning on a shared path) and single objects.
func TestImportSourcesAndObjects(t *testing.T) {
	e := newEnv(t)
	e.startRunner(importer.Config{PrefixWeight: 2}, nil)
	e.commitFiles("m/gone", "keep")
	e.put("x/a", "x/y/shared", "x/z/b", "y/shared", "y/c", "solo/one", "solo/two", "n/1", "n/2")
	src := "s3://" + e.srcBkt + "/"
	id := e.submit(jobs.ImportRequest{Paths: []jobs.ImportPath{
		{Type: jobs.ImportCommonPrefix, Path: src + "x/", Destination: "m/"},
		{Type: jobs.ImportCommonPrefix, Path: src + "y/", Destination: "m/y/"},
		{Type: jobs.ImportCommonPrefix, Path: src + "n/", Destination: "n/"},
		{Type: jobs.ImportObject, Path: src + "solo/one", Destination: "objects/first"},
		{Type: jobs.ImportObject, Path: src + "solo/two", Destination: "m/y/c"},
	}})
	res := e.waitCompleted(id, time.Minute)
	got := e.entries("main", "")
	want := map[string]string{
		"keep":          "",
		"m/a":           src + "x/a",
		"m/y/shared":    src + "y/shared",
		"m/z/b":         src + "x/z/b",
		"m/y/c":         src + "solo/two",
		"n/1":           src + "n/1",
		"n/2":           src + "n/2",
		"objects/first": src + "solo/one",
	}
	if !slices.Equal(keysOf(got), keysOf(want)) {
		t.Fatalf("branch paths %q, want %q", keysOf(got), keysOf(want))
	}
	for p, addr := range want {
		if addr != "" && got[p].Address != addr {
			t.Errorf("%s points at %s, want %s", p, got[p].Address, addr)
		}
	}
	if res.Ingested != 8 {
		t.Errorf("ingested %d, want 8", res.Ingested)
	}
}

// TestImportSlowSourceProgress imports one shard of a source that lists
// slowly, in small pages: its progress shows while it runs, not only at
// the end.
func TestImportSlowSourceProgress(t *testing.T) {
	e := newEnv(t)
	e.startRunner(importer.Config{PageSize: 10}, func(s block.Store) block.Store {
		return slowLister{Store: s, delay: 100 * time.Millisecond}
	})
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("slow/%03d", i))
	}
	e.put(keys...)
	id := e.submit(e.prefixReq("slow/", "slow/"))
	var midway int64
	for {
		j := e.job(id)
		if j.State.Terminal() {
			if j.State != jobs.StateCompleted {
				t.Fatalf("job %s: %s", j.State, j.Error)
			}
			break
		}
		if d := j.Progress.Done; d > 0 && d < 300 {
			midway = d
		}
		time.Sleep(50 * time.Millisecond)
	}
	if midway == 0 {
		t.Fatal("no progress was saved before the import ended")
	}
}

// TestImportMergeWiderThanPageSlots merges more sources into one shard
// than the handler has listing slots, over several pages each: the merge
// needs a page of every source at once, and used to wait for ever for a
// slot it held itself.
func TestImportMergeWiderThanPageSlots(t *testing.T) {
	e := newEnv(t)
	e.startRunner(importer.Config{ListPages: 2, PageSize: 2}, nil)
	var keys []string
	for _, p := range []string{"a", "b", "c", "d"} {
		for i := range 5 {
			keys = append(keys, fmt.Sprintf("%s/%d", p, i))
		}
	}
	e.put(keys...)
	src := "s3://" + e.srcBkt + "/"
	id := e.submit(jobs.ImportRequest{Paths: []jobs.ImportPath{
		{Type: jobs.ImportCommonPrefix, Path: src + "a/", Destination: "m/"},
		{Type: jobs.ImportCommonPrefix, Path: src + "b/", Destination: "m/b/"},
		{Type: jobs.ImportCommonPrefix, Path: src + "c/", Destination: "m/c/"},
		{Type: jobs.ImportCommonPrefix, Path: src + "d/", Destination: "m/d/"},
	}})
	if res := e.waitCompleted(id, time.Minute); res.Ingested != 20 {
		t.Errorf("ingested %d, want 20", res.Ingested)
	}
	got := e.entries("main", "m/")
	for _, p := range []string{"m/0", "m/4", "m/b/0", "m/c/4", "m/d/2"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s is missing; the branch has %q", p, keysOf(got))
		}
	}
	if len(got) != 20 {
		t.Errorf("%d entries under m/, want 20", len(got))
	}
}

// TestImportObjectsOnly imports single objects: no shards, finalize only.
func TestImportObjectsOnly(t *testing.T) {
	e := newEnv(t)
	e.startRunner(importer.Config{}, nil)
	e.put("f/one")
	id := e.submit(jobs.ImportRequest{Paths: []jobs.ImportPath{
		{Type: jobs.ImportObject, Path: "s3://" + e.srcBkt + "/f/one", Destination: "one"},
	}})
	e.waitCompleted(id, time.Minute)
	if got := keysOf(e.entries("main", "")); !slices.Equal(got, []string{"one"}) {
		t.Fatalf("branch paths %q", got)
	}
}

// unordered lists like some S3 implementations: each page's items in
// pairs swapped.
type unordered struct{ block.Store }

func (u unordered) List(ctx context.Context, bucket string, opts block.ListOptions) (block.ListPage, error) {
	p, err := u.Store.List(ctx, bucket, opts)
	if opts.Delimiter == "" {
		for i := 0; i+1 < len(p.Items); i += 2 {
			p.Items[i], p.Items[i+1] = p.Items[i+1], p.Items[i]
		}
	}
	return p, err
}

// TestImportUnorderedListing imports from a store whose listings are out
// of order: the shard is sorted through spilled runs, and the result is
// complete and ordered.
func TestImportUnorderedListing(t *testing.T) {
	e := newEnv(t)
	e.startRunner(importer.Config{PageSize: 7, SortBuffer: 1 << 10}, func(s block.Store) block.Store { return unordered{s} })
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("u/%03d/%s", i%3, strings.Repeat("v", i%17)+fmt.Sprint(i)))
	}
	e.put(keys...)
	res := e.waitCompleted(e.submit(e.prefixReq("u/", "d/")), time.Minute)
	got := e.entries("main", "d/")
	if len(got) != len(keys) || res.Ingested != int64(len(keys)) {
		t.Fatalf("%d entries (ingested %d), want %d", len(got), res.Ingested, len(keys))
	}
	for _, k := range keys {
		if got["d/"+strings.TrimPrefix(k, "u/")].Address != "s3://"+e.srcBkt+"/"+k {
			t.Fatalf("%s missing or wrong", k)
		}
	}
}

// TestImportRetryTakesBackProgress: a shard whose listing fails part way
// is listed again, and the job's progress counts its objects once: the
// failed attempt takes back what it reported.
func TestImportRetryTakesBackProgress(t *testing.T) {
	e := newEnv(t)
	keys := make([]string, 2500)
	for i := range keys {
		keys[i] = fmt.Sprintf("f/k%04d", i) // 7 bytes each
	}
	e.put(keys...)
	// The shard lists 100 keys a page. Attempt 1 reports 1,000 objects
	// after its 10th page and fails at its 13th listing; attempt 2, at
	// its 13th page, has reported 1,000 again and waits.
	fl := &flakyLister{failAt: 13, holdAt: 26, held: make(chan struct{}), release: make(chan struct{})}
	e.startRunner(importer.Config{PageSize: 100, PrefixWeight: 1 << 20}, func(s block.Store) block.Store {
		return flakyStore{Store: s, fl: fl}
	})
	t.Cleanup(fl.open)
	id := e.submit(e.prefixReq("f/", "d/"))
	select {
	case <-fl.held:
	case <-time.After(time.Minute):
		t.Fatal("the shard was not listed again after its failure")
	}
	// Progress is saved every 100 ms: wait for the second attempt's.
	e.waitFor(10*time.Second, "the retry's progress", func() bool { return e.job(id).Progress.Done >= 1000 })
	time.Sleep(500 * time.Millisecond)
	if p := e.job(id).Progress; p.Done != 1000 || p.Bytes != 7000 {
		t.Fatalf("progress after one failed attempt and 1,000 objects of the next: %d objects, %d bytes; want 1000 and 7000", p.Done, p.Bytes)
	}
	fl.open()
	res := e.waitCompleted(id, time.Minute)
	if p := e.job(id).Progress; res.Ingested != 2500 || p.Done != 2500 || p.Bytes != 2500*7 {
		t.Fatalf("ingested %d, progress %d objects, %d bytes; want 2500, 2500, %d", res.Ingested, p.Done, p.Bytes, 2500*7)
	}
}

// flakyLister counts the recursive listings of a source (the shards'):
// call failAt fails, and call holdAt waits until open.
type flakyLister struct {
	calls          atomic.Int64
	failAt, holdAt int64
	held, release  chan struct{}
	once           sync.Once
}

func (f *flakyLister) open() { f.once.Do(func() { close(f.release) }) }

type flakyStore struct {
	block.Store
	fl *flakyLister
}

func (s flakyStore) List(ctx context.Context, bucket string, opts block.ListOptions) (block.ListPage, error) {
	if opts.Delimiter == "" {
		switch s.fl.calls.Add(1) {
		case s.fl.failAt:
			return block.ListPage{}, errors.New("listing interrupted")
		case s.fl.holdAt:
			close(s.fl.held)
			select {
			case <-s.fl.release:
			case <-ctx.Done():
				return block.ListPage{}, ctx.Err()
			}
		}
	}
	return s.Store.List(ctx, bucket, opts)
}

// TestImportCancel cancels an import while its shards run: the job ends
// CANCELED and the branch is as it was.
func TestImportCancel(t *testing.T) {
	e := newEnv(t)
	e.startRunner(importer.Config{PageSize: 5, PrefixWeight: 1}, func(s block.Store) block.Store {
		return slowLister{Store: s, delay: 150 * time.Millisecond}
	})
	base := e.commitFiles("c/before")
	var keys []string
	for i := range 400 {
		keys = append(keys, fmt.Sprintf("c/%02d/%03d", i%8, i))
	}
	e.put(keys...)
	id := e.submit(e.prefixReq("c/", "c/"))
	e.waitFor(time.Minute, "the import to make progress", func() bool { return e.job(id).Progress.Done > 0 })
	if _, err := e.jobs.RequestCancel(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	j := e.waitDone(id, time.Minute)
	if j.State != jobs.StateCanceled {
		t.Fatalf("job is %s, want CANCELED", j.State)
	}
	time.Sleep(time.Second) // nothing may commit late
	head := e.history("main")[0]
	if head.ID != base.ID {
		t.Fatalf("branch moved to %s (%q) after a canceled import", head.ID, head.Message)
	}
	if got := keysOf(e.entries("main", "")); !slices.Equal(got, []string{"c/before"}) {
		t.Fatalf("branch paths %q", got)
	}
	if n := e.workingState(id); n > int(j.Progress.Tasks) {
		t.Errorf("%d keys of working state left after the cancellation", n)
	}
	// A shard still running when the job was canceled may store its
	// result after the state was dropped: the job's expiry drops it.
	if err := e.kv.Set(t.Context(), jobs.WorkPartition(id), "import/shard/00099", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.jobs.Expire(t.Context(), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := e.workingState(id); n != 0 {
		t.Errorf("%d keys of working state left after the job expired", n)
	}
}

// TestImportFailsOnMissingBucket: a source that vanished after submission
// fails the job with a clear message and commits nothing.
func TestImportFailsOnMissingBucket(t *testing.T) {
	e := newEnv(t)
	e.startRunner(importer.Config{}, nil)
	base := e.history("main")[0]
	id := e.submit(jobs.ImportRequest{Paths: []jobs.ImportPath{{Type: jobs.ImportCommonPrefix, Path: "s3://no-such-bucket-here/x/", Destination: "x/"}}})
	j := e.waitDone(id, time.Minute)
	if j.State != jobs.StateFailed || !strings.Contains(j.Error, "no-such-bucket-here") {
		t.Fatalf("job %s: %q, want FAILED naming the bucket", j.State, j.Error)
	}
	if e.history("main")[0].ID != base.ID {
		t.Fatal("branch moved")
	}
	if n := e.workingState(id); n != 0 {
		t.Errorf("%d keys of working state left after the failure", n)
	}
}

// TestImportFinalizeOnce: a finalize that finds the job's commit already on
// the branch (its first run committed, then died before recording it)
// completes with that commit instead of committing again, and with the
// result the first would have recorded.
func TestImportFinalizeOnce(t *testing.T) {
	e := newEnv(t)
	e.put("o/1", "o/2", "single")
	req := e.prefixReq("o/", "o/")
	req.Paths = append(req.Paths, jobs.ImportPath{Type: jobs.ImportObject, Path: "s3://" + e.srcBkt + "/single", Destination: "one"})
	req.Branch, req.Commit.Message = "main", "import"
	raw, _ := json.Marshal(&req)
	j, err := e.jobs.Create(t.Context(), &jobs.Job{ID: jobs.NewID(time.Now()), Kind: jobs.KindImport, Repo: e.repo, Request: raw})
	if err != nil {
		t.Fatal(err)
	}
	// The commit an earlier finalize of this job made.
	earlier, err := e.graph.CommitTree(t.Context(), e.repo, "main", graph.CommitParams{
		Message: "import", Metadata: req.CommitMetadata(j.ID), AllowEmpty: true,
	}, false, func(ctx context.Context, ns tree.Namespace, head *graph.Commit) (tree.MetaRangeID, error) {
		return head.MetaRangeID, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.startRunner(importer.Config{}, nil)
	if _, err := e.b.PublishJob(t.Context(), string(jobs.KindImport), j.ID, jobs.EncodeMessage(j.ID)); err != nil {
		t.Fatal(err)
	}
	res := e.waitCompleted(j.ID, time.Minute)
	if res.CommitID != earlier.ID {
		t.Fatalf("completed with commit %s, want the earlier %s", res.CommitID, earlier.ID)
	}
	if n := e.commitsOf("main", j.ID); n != 1 {
		t.Fatalf("%d commits of the job, want 1", n)
	}
	// The result is the one the earlier finalize would have recorded:
	// every object the import brings, and the metarange of the prefixes'.
	if res.Ingested != 3 {
		t.Errorf("ingested %d, want 3 (two under the prefix, one object)", res.Ingested)
	}
	ns, err := e.graph.Namespace(t.Context(), e.repo)
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := e.graph.Trees().GetMetaRange(t.Context(), ns, tree.MetaRangeID(res.MetaRangeID))
	if err != nil {
		t.Fatalf("metarange %q of the result: %v", res.MetaRangeID, err)
	}
	var n int64
	for _, r := range ranges {
		n += r.Count
	}
	if n != 2 {
		t.Errorf("metarange of the result holds %d entries, want the prefix's 2", n)
	}
}

// eventsOf collects the events of job id until it ends.
func (e *env) eventsOf(id store.JobID) <-chan []jobs.Event {
	e.t.Helper()
	filter, err := broker.EventFilter(e.repo, string(jobs.KindImport), id)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := e.b.SubscribeEvents(e.t.Context(), filter, broker.FromFirst())
	if err != nil {
		e.t.Fatal(err)
	}
	out := make(chan []jobs.Event, 1)
	go func() {
		defer s.Stop()
		var evs []jobs.Event
		defer func() { out <- evs }()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for {
			ev, err := s.Next(ctx)
			if err != nil {
				return
			}
			var je jobs.Event
			if json.Unmarshal(ev.Data, &je) == nil {
				evs = append(evs, je)
				if je.State.Terminal() {
					return
				}
			}
		}
	}()
	return out
}
