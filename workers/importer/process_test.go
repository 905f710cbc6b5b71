package importer_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/jobs"
)

// manyKeys returns n keys spread over prefixes sub-prefixes of top.
func manyKeys(top string, prefixes, n int) []string {
	keys := make([]string, 0, n)
	for i := range n {
		keys = append(keys, fmt.Sprintf("%s/p%03d/obj-%05d", top, i%prefixes, i))
	}
	return keys
}

// checkImported fails unless the branch holds exactly keys (under top/)
// at dest, pointing at the source.
func (e *env) checkImported(top, dest string, keys []string) {
	e.t.Helper()
	got := e.entries("main", dest)
	if len(got) != len(keys) {
		e.t.Fatalf("%d entries under %s, want %d", len(got), dest, len(keys))
	}
	for _, k := range keys {
		p := dest + strings.TrimPrefix(k, top+"/")
		if got[p].Address != "s3://"+e.srcBkt+"/"+k {
			e.t.Fatalf("%s: %+v", p, got[p])
		}
	}
}

// TestImportWorkerKilled kills the worker process running an import with
// SIGKILL halfway; the job is redelivered to another worker process and
// ends with exactly one commit holding every object.
func TestImportWorkerKilled(t *testing.T) {
	e := newEnv(t)
	keys := manyKeys("k", 12, 600)
	e.put(keys...)
	base := e.history("main")[0]
	a := e.startChild("worker-a", 250*time.Millisecond, 10)
	id := e.submit(e.prefixReq("k/", "k/"))
	e.waitFor(time.Minute, "worker a to import part of the objects", func() bool {
		j := e.job(id)
		return j.Progress.Done > 0 && j.Progress.TasksOK < j.Progress.Tasks
	})
	a.kill(t)
	if j := e.job(id); j.State.Terminal() {
		t.Fatalf("the import ended (%s) before its worker was killed", j.State)
	}
	if e.history("main")[0].ID != base.ID {
		t.Fatal("the branch moved before the import finished")
	}
	e.startChild("worker-b", 0, 0)
	res := e.waitCompleted(id, 2*time.Minute)
	if n := e.commitsOf("main", id); n != 1 {
		t.Fatalf("%d commits of the import, want exactly 1", n)
	}
	h := e.history("main")
	if h[0].ID != res.CommitID || h[1].ID != base.ID {
		t.Fatalf("history %s, %s: want the import's commit on the base", h[0].ID, h[1].ID)
	}
	e.checkImported("k", "k/", keys)
	if res.Ingested != int64(len(keys)) {
		t.Errorf("ingested %d, want %d", res.Ingested, len(keys))
	}
}

// TestImportTwoWorkers runs one large import on two worker processes
// sharing one NATS, Redis and MinIO: both run some of its shards.
func TestImportTwoWorkers(t *testing.T) {
	e := newEnv(t)
	keys := manyKeys("w", 40, 2000)
	e.put(keys...)
	e.startChild("worker-a", 100*time.Millisecond, 25)
	e.startChild("worker-b", 100*time.Millisecond, 25)
	id := e.submit(e.prefixReq("w/", "w/"))
	events := e.eventsOf(id)
	e.waitCompleted(id, 3*time.Minute)
	byWorker := map[string]int{}
	for _, ev := range <-events {
		if ev.Type == jobs.EventTaskDone {
			byWorker[ev.Worker]++
		}
	}
	workersSeen := keysOf(byWorker)
	if !slices.Equal(workersSeen, []string{"worker-a", "worker-b"}) {
		t.Fatalf("tasks done by %v, want both workers", byWorker)
	}
	t.Logf("tasks per worker: %v", byWorker)
	e.checkImported("w", "w/", keys)
	if n := e.commitsOf("main", id); n != 1 {
		t.Fatalf("%d commits of the import, want 1", n)
	}
}
