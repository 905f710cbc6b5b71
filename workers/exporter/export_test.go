package exporter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/tree"
)

const jobTimeout = 2 * time.Minute

// sparkTables returns objects laid out like Spark output: n tables of
// parts each, with a _SUCCESS marker per table and one at the root.
func sparkTables(n, parts int, version string) map[string]string {
	objects := map[string]string{"_SUCCESS": ""}
	for tb := range n {
		for p := range parts {
			objects[fmt.Sprintf("tables/t%02d/part-%05d.parquet", tb, p)] = fmt.Sprintf("%s table %d part %d", version, tb, p)
		}
		objects[fmt.Sprintf("tables/t%02d/_SUCCESS", tb)] = ""
	}
	objects["tables/t00/_SUCCESS.crc"] = "crc"
	// Markers are empty in Spark; give them content so that the test
	// helpers (which read "" as a delete) store them.
	for k, v := range objects {
		if v == "" {
			objects[k] = "success " + k
		}
	}
	return objects
}

func isSuccessMarker(p string) bool { return p == "_SUCCESS" || strings.HasSuffix(p, "/_SUCCESS") }

func TestExportFullInRounds(t *testing.T) {
	e := newEnv(t, envOptions{})
	var (
		mu    sync.Mutex
		order []string
	)
	w := e.startWorker(t, "w1", Config{}, func(h *Handler) {
		h.afterCopy = func(p string) {
			mu.Lock()
			order = append(order, p)
			mu.Unlock()
		}
	})
	repo := e.repo(t, "full")
	objects := sparkTables(6, 50, "v1")
	c := e.commit(t, repo, objects)
	dst := e.bucket(t, "dst")
	id := e.submit(t, repo, jobs.ExportRequest{Ref: "main", CommitID: c.ID, Destination: "s3://" + dst + "/out", Parallelism: 8})
	res := result(t, e.wait(t, id, jobTimeout))

	got := contents(t, e.s3, dst, "out/")
	names := statusFiles(got)
	if len(names) != 1 || !strings.HasPrefix(names[0], "EXPORT_"+string(c.ID)+"_") || !strings.HasSuffix(names[0], "_SUCCESS") {
		t.Fatalf("status files %v, want one EXPORT_%s_<time>_SUCCESS", names, c.ID)
	}
	stamp := strings.TrimSuffix(strings.TrimPrefix(names[0], "EXPORT_"+string(c.ID)+"_"), "_SUCCESS")
	if _, err := time.Parse(jobs.ExportStatusTimeLayout, stamp); err != nil {
		t.Fatalf("status file time %q: %v", stamp, err)
	}
	equalObjects(t, got, objects)
	if res.Copied != int64(len(objects)) || res.Failed != 0 || res.Deleted != 0 || !res.Success ||
		!slices.Equal(res.Rounds, []int{0, 1}) || res.StatusFile != "s3://"+dst+"/out/"+names[0] {
		t.Fatalf("result %+v", res)
	}
	if st := w.h.Stats(); st.Copies != int64(len(objects)) || st.Skipped != 0 {
		t.Fatalf("stats %+v, want %d copies", st, len(objects))
	}
	info, err := e.s3.Stat(e.ctx, dst, "out/tables/t01/part-00003.parquet")
	if err != nil || info.ContentType != "text/plain" {
		t.Fatalf("copy keeps content type: %+v, %v", info, err)
	}

	// Every _SUCCESS object was copied after every other object.
	mu.Lock()
	defer mu.Unlock()
	if len(order) != len(objects) {
		t.Fatalf("%d copies observed, want %d", len(order), len(objects))
	}
	first := slices.IndexFunc(order, isSuccessMarker)
	if first < 0 {
		t.Fatal("no _SUCCESS copy observed")
	}
	for i, p := range order {
		if isSuccessMarker(p) != (i >= first) {
			t.Fatalf("copy %d of %q: _SUCCESS objects must all come after the others (first marker at %d)", i, p, first)
		}
	}
	if n := len(order) - first; n != 7 {
		t.Fatalf("%d markers copied last, want 7", n)
	}
}

func TestExportDiffCopiesOnlyChanges(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := e.startWorker(t, "w1", Config{}, nil)
	repo := e.repo(t, "diff")
	state := sparkTables(4, 50, "v1")
	a := e.commit(t, repo, state)
	dst := e.bucket(t, "dst")
	dest := "s3://" + dst + "/mirror/"
	result(t, e.wait(t, e.submit(t, repo, jobs.ExportRequest{CommitID: a.ID, Destination: dest}), jobTimeout))
	before := w.h.Stats()

	change := map[string]string{}
	for i := range 7 {
		change[fmt.Sprintf("tables/t01/part-%05d.parquet", i*3)] = "v2 changed"
	}
	for i := range 5 {
		change[fmt.Sprintf("tables/t02/part-%05d.parquet", 40+i)] = "" // removed
	}
	change["tables/t03/_SUCCESS"] = "" // a removed marker
	for i := range 3 {
		change[fmt.Sprintf("tables/t04/part-%05d.parquet", i)] = "v2 added"
	}
	change["tables/t04/_SUCCESS"] = "v2 new marker"
	b := e.commit(t, repo, change)
	for k, v := range change {
		if v == "" {
			delete(state, k)
		} else {
			state[k] = v
		}
	}

	res := result(t, e.wait(t, e.submit(t, repo, jobs.ExportRequest{Ref: "main", CommitID: b.ID, PrevCommitID: a.ID, Destination: dest}), jobTimeout))
	if res.Copied != 11 || res.Deleted != 6 || res.Failed != 0 || res.Skipped != 0 {
		t.Fatalf("diff export result %+v, want 11 copied and 6 deleted", res)
	}
	after := w.h.Stats()
	if copies, deleted := after.Copies-before.Copies, after.Deleted-before.Deleted; copies != 11 || deleted != 6 {
		t.Fatalf("diff export made %d copies and %d deletes, want 11 and 6", copies, deleted)
	}
	got := contents(t, e.s3, dst, "mirror/")
	names := statusFiles(got)
	if len(names) != 2 || !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "EXPORT_"+string(b.ID)) }) {
		t.Fatalf("status files %v: want one per export", names)
	}
	equalObjects(t, got, state)
}

func TestExportFailedRoundWritesFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startWorker(t, "w1", Config{CopyAttempts: 2, RetryBase: time.Millisecond, RetryMax: time.Millisecond}, nil)
	repo := e.repo(t, "fails")
	objects := sparkTables(3, 40, "v1")
	c := e.commit(t, repo, objects)
	// Two objects of round 0 lose their data.
	ns, err := e.graph.Namespace(e.ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	lost := []string{"tables/t00/part-00007.parquet", "tables/t02/part-00039.parquet"}
	for _, p := range lost {
		ent, err := e.graph.StatObject(e.ctx, repo, store.Ref(c.ID), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.Store.Delete(e.ctx, ns.Bucket, ns.Prefix+ent.Address); err != nil {
			t.Fatal(err)
		}
	}
	dst := e.bucket(t, "dst")
	j := e.wait(t, e.submit(t, repo, jobs.ExportRequest{CommitID: c.ID, Destination: "s3://" + dst + "/"}), jobTimeout)
	if j.State != jobs.StateFailed || !strings.Contains(j.Error, "2 objects failed") {
		t.Fatalf("job %s: %s, want FAILED with 2 failed objects", j.State, j.Error)
	}
	got := contents(t, e.s3, dst, "")
	names := statusFiles(got)
	if len(names) != 1 || !strings.HasSuffix(names[0], "_FAILURE") {
		t.Fatalf("status files %v, want one …_FAILURE", names)
	}
	failure := contents(t, e.s3, dst, names[0])[""]
	lines := strings.Split(strings.TrimSuffix(failure, "\n"), "\n")
	if len(lines) != len(lost) {
		t.Fatalf("FAILURE file:\n%s\nwant one line per failed object", failure)
	}
	for i, p := range lost {
		path, msg, ok := strings.Cut(lines[i], "\t")
		if !ok || path != p || !strings.Contains(msg, "not found") {
			t.Fatalf("FAILURE line %q, want %q<TAB>error", lines[i], p)
		}
	}
	for k := range got {
		if isSuccessMarker(k) {
			t.Fatalf("a failed round must stop the _SUCCESS round, but %s was copied", k)
		}
	}
	markers := 0
	for k := range objects {
		if isSuccessMarker(k) {
			markers++
		}
	}
	if want := len(objects) - markers - len(lost); len(got) != want {
		t.Fatalf("%d objects copied, want the %d other objects of round 0", len(got), want)
	}
}

// TestExportRedeliveredTaskSkipsCopies stops a worker in the middle of
// its tasks; another takes them over and copies only what the first did
// not finish.
func TestExportRedeliveredTaskSkipsCopies(t *testing.T) {
	e := newEnv(t, envOptions{})
	var (
		copiedA atomic.Int64
		stopA   = make(chan struct{})
		once    sync.Once
	)
	const stopAfter = 60
	a := e.startWorker(t, "a", Config{}, func(h *Handler) {
		h.afterCopy = func(string) {
			if copiedA.Add(1) == stopAfter {
				once.Do(func() { close(stopA) })
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	repo := e.repo(t, "redeliver")
	objects := sparkTables(4, 75, "v1")
	c := e.commit(t, repo, objects)
	dst := e.bucket(t, "dst")
	const parallelism = 2
	id := e.submit(t, repo, jobs.ExportRequest{CommitID: c.ID, Destination: "s3://" + dst + "/", Parallelism: parallelism})
	select {
	case <-stopA:
	case <-time.After(jobTimeout):
		t.Fatal("worker a copied nothing")
	}
	// No grace: a's tasks are interrupted and go back to the queue.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	_ = a.r.Stop(gone)
	doneA := copiedA.Load()
	b := e.startWorker(t, "b", Config{}, nil)
	res := result(t, e.wait(t, id, jobTimeout))

	got := contents(t, e.s3, dst, "")
	if names := statusFiles(got); len(names) != 1 {
		t.Fatalf("status files %v", names)
	}
	equalObjects(t, got, objects)
	n := int64(len(objects))
	sa, sb := a.h.Stats(), b.h.Stats()
	t.Logf("a: %d copies started, %d done; b: %+v; result %+v", sa.Copies, doneA, sb, res)
	if doneA >= n {
		t.Fatalf("worker a finished everything (%d copies): nothing was redelivered", doneA)
	}
	// What a copied is not copied again: b copies at most the rest, and
	// at least the rest minus the copies a had under way when it stopped.
	if sb.Copies > n-doneA || sb.Copies < n-doneA-parallelism {
		t.Fatalf("b made %d copies; a finished %d of %d", sb.Copies, doneA, n)
	}
	if sb.Skipped == 0 {
		t.Fatal("b skipped nothing: the redelivered tasks did not find a's copies")
	}
	if sa.Copies+sb.Copies > n+parallelism {
		t.Fatalf("%d copies in all for %d objects", sa.Copies+sb.Copies, n)
	}
}

// TestExportKilledWorkerProcess kills a worker process in the middle of an
// export: the other process finishes it and the status file is written
// exactly once.
func TestExportKilledWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	e := newEnv(t, envOptions{redis: true})
	repo := e.repo(t, "killed")
	objects := sparkTables(8, 100, "v1")
	c := e.commit(t, repo, objects)
	dst := e.bucket(t, "dst")
	p1 := e.startProcess(t, 3*time.Millisecond)
	p2 := e.startProcess(t, 3*time.Millisecond)
	id := e.submit(t, repo, jobs.ExportRequest{CommitID: c.ID, Destination: "s3://" + dst + "/out/", Parallelism: 4})
	deadline := time.Now().Add(jobTimeout)
	for {
		j, err := e.jobs.Get(e.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			t.Fatalf("export ended (%s) before a worker could be killed", j.State)
		}
		if j.Progress.Done >= int64(len(objects))/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("export made no progress: %+v", j.Progress)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p1.kill()
	t.Logf("killed worker process %s", p1.pid())
	j := e.wait(t, id, jobTimeout)
	res := result(t, j)
	got := contents(t, e.s3, dst, "out/")
	names := statusFiles(got)
	if len(names) != 1 || !strings.HasSuffix(names[0], "_SUCCESS") {
		t.Fatalf("status files %v, want exactly one …_SUCCESS", names)
	}
	equalObjects(t, got, objects)
	if res.Copied+res.Skipped < int64(len(objects)) {
		t.Fatalf("result %+v for %d objects", res, len(objects))
	}
	_ = p2
}

// TestExportStreamedToLocal exports zero-copy imported objects and
// objects of the namespace from S3 to a local directory: the bytes stream
// through the worker, and a second look at each copy recognises it.
func TestExportStreamedToLocal(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := e.startWorker(t, "w1", Config{}, nil)
	repo := e.repo(t, "streamed")
	objects := sparkTables(2, 20, "v1")
	e.commit(t, repo, objects)
	// Objects imported zero-copy: entries with the full URI of data
	// outside the namespace.
	src := e.bucket(t, "src")
	var changes []tree.Change
	for i := range 5 {
		key := fmt.Sprintf("raw/imported-%d.json", i)
		body := fmt.Sprintf(`{"imported": %d}`, i)
		info, err := e.s3.Put(e.ctx, src, key, strings.NewReader(body), int64(len(body)), block.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := "imported/" + key
		objects[p] = body
		changes = append(changes, tree.Change{Path: p, Entry: &store.Entry{Path: p, Address: "s3://" + src + "/" + key,
			AddressType: store.AddressFull, Size: info.Size, ETag: info.ETag}})
	}
	c := e.commitChanges(t, repo, changes)

	dir := e.root + "/exports/run 1"
	id := e.submit(t, repo, jobs.ExportRequest{CommitID: c.ID, Destination: "local://" + dir})
	res := result(t, e.wait(t, id, jobTimeout))
	if res.Copied != int64(len(objects)) {
		t.Fatalf("result %+v", res)
	}
	out, err := e.resolver.Resolve(block.MustParseURI("local://" + dir + "/"))
	if err != nil {
		t.Fatal(err)
	}
	got := contents(t, out.Store, out.Bucket, out.Key)
	if names := statusFiles(got); len(names) != 1 || !strings.HasSuffix(names[0], "_SUCCESS") {
		t.Fatalf("status files %v", names)
	}
	equalObjects(t, got, objects)

	// A redelivered task would find every copy complete.
	j, err := e.jobs.Get(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	x, err := w.h.load(e.ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	spans, _, err := w.h.spans(e.ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	before := w.h.Stats()
	for _, s := range spans {
		if err := w.h.walk(e.ctx, x, s, func(ch change) error {
			outcome, err := w.h.copyObject(e.ctx, x, ch.Entry, true)
			if err != nil || outcome != skipped {
				t.Fatalf("second copy of %s: %v, %v; want it skipped", ch.Path, outcome, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if after := w.h.Stats(); after.Copies != before.Copies || after.Skipped-before.Skipped != int64(len(objects)) {
		t.Fatalf("stats before %+v after %+v", before, after)
	}
}

func TestExportCustomRounds(t *testing.T) {
	e := newEnv(t, envOptions{})
	var (
		mu    sync.Mutex
		order []string
	)
	e.startWorker(t, "w1", Config{}, func(h *Handler) {
		h.afterCopy = func(p string) {
			mu.Lock()
			order = append(order, p)
			mu.Unlock()
		}
	})
	repo := e.repo(t, "rounds")
	objects := map[string]string{}
	for i := range 120 {
		objects[fmt.Sprintf("data/%03d.csv", i)] = "row"
		if i%30 == 0 {
			objects[fmt.Sprintf("meta/%03d.json", i)] = "meta"
			objects[fmt.Sprintf("data/%03d.done", i)] = "done"
		}
	}
	c := e.commit(t, repo, objects)
	dst := e.bucket(t, "dst")
	rounds := []jobs.ExportRound{{Pattern: `\.done$`, Round: 7}, {Pattern: `^meta/`, Round: 3}}
	res := result(t, e.wait(t, e.submit(t, repo, jobs.ExportRequest{CommitID: c.ID, Destination: "s3://" + dst + "/", Rounds: rounds}), jobTimeout))
	if !slices.Equal(res.Rounds, []int{0, 3, 7}) {
		t.Fatalf("rounds %v, want [0 3 7]", res.Rounds)
	}
	roundOf := func(p string) int {
		switch {
		case strings.HasSuffix(p, ".done"):
			return 7
		case strings.HasPrefix(p, "meta/"):
			return 3
		}
		return 0
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(order); i++ {
		if roundOf(order[i]) < roundOf(order[i-1]) {
			t.Fatalf("%s (round %d) copied after %s (round %d)", order[i], roundOf(order[i]), order[i-1], roundOf(order[i-1]))
		}
	}
	got := contents(t, e.s3, dst, "")
	statusFiles(got)
	equalObjects(t, got, objects)
}

// TestExportToAnotherEndpoint streams the objects to a second S3 endpoint
// (another MinIO server): the copies carry their source's ETag in their
// metadata, by which a second look recognises them.
func TestExportToAnotherEndpoint(t *testing.T) {
	e := newEnv(t, envOptions{})
	other := miniotest.Start(t)
	other.MakeBucket(t, "elsewhere")
	otherStore := other.NewStore(t)
	dests, err := block.NewResolver(block.ResolverConfig{S3: otherStore})
	if err != nil {
		t.Fatal(err)
	}
	var h *Handler
	e.startWorker(t, "w1", Config{}, func(wh *Handler) {
		wh.dests = dests
		h = wh
	})
	repo := e.repo(t, "endpoints")
	objects := sparkTables(2, 30, "v1")
	c := e.commit(t, repo, objects)
	res := result(t, e.wait(t, e.submit(t, repo, jobs.ExportRequest{CommitID: c.ID, Destination: "s3://elsewhere/copy/"}), jobTimeout))
	if res.Copied != int64(len(objects)) {
		t.Fatalf("result %+v", res)
	}
	got := contents(t, otherStore, "elsewhere", "copy/")
	if names := statusFiles(got); len(names) != 1 {
		t.Fatalf("status files %v", names)
	}
	equalObjects(t, got, objects)
	ent, err := e.graph.StatObject(e.ctx, repo, store.Ref(c.ID), "tables/t01/part-00004.parquet")
	if err != nil {
		t.Fatal(err)
	}
	info, err := otherStore.Stat(e.ctx, "elsewhere", "copy/tables/t01/part-00004.parquet")
	if err != nil || info.Metadata[MetadataSourceETag] != ent.ETag || !sameObject(info, ent) {
		t.Fatalf("streamed copy %+v (%v), source ETag %s", info, err, ent.ETag)
	}
	if st := h.Stats(); st.Copies != int64(len(objects)) {
		t.Fatalf("stats %+v", st)
	}
}

// TestExportNothingToDo: a diff between a commit and itself has no spans;
// the export still ends with its status file.
func TestExportNothingToDo(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startWorker(t, "w1", Config{}, nil)
	repo := e.repo(t, "nothing")
	c := e.commit(t, repo, map[string]string{"a": "1"})
	dst := e.bucket(t, "dst")
	res := result(t, e.wait(t, e.submit(t, repo, jobs.ExportRequest{CommitID: c.ID, PrevCommitID: c.ID, Destination: "s3://" + dst + "/"}), jobTimeout))
	got := contents(t, e.s3, dst, "")
	names := statusFiles(got)
	if res.Copied != 0 || res.Deleted != 0 || !res.Success || len(got) != 0 || len(names) != 1 || !strings.HasSuffix(names[0], "_SUCCESS") {
		t.Fatalf("result %+v, objects %v, status files %v", res, got, names)
	}
}
