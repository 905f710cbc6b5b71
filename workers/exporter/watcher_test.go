package exporter

import (
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
)

// TestContinuousExport sets an export rule on main, then commits and
// merges: two watchers export each new commit of main's first-parent
// path once, in commit order, as a diff from the one before, until the
// destination mirrors the branch.
func TestContinuousExport(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startWorker(t, "w1", Config{}, nil)
	repo := e.repo(t, "continuous")
	state := sparkTables(3, 30, "v1")
	a := e.commit(t, repo, state)
	dst := e.bucket(t, "mirror")
	dest := "s3://" + dst + "/main/"
	result(t, e.wait(t, e.submit(t, repo, jobs.ExportRequest{CommitID: a.ID, Destination: dest}), jobTimeout))

	rules := e.jobs.ExportRules()
	if _, err := rules.Put(e.ctx, &jobs.ExportRule{Repo: repo, Branch: "main", Destination: dest, LastExported: a.ID}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w, err := NewWatcher(WatcherConfig{Interval: 20 * time.Millisecond}, WatcherDeps{
			Graph: e.graph, Jobs: e.jobs, Broker: e.broker, Logger: e.log})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(e.ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Stop(e.ctx) })
	}

	apply := func(change map[string]string) {
		for k, v := range change {
			if v == "" {
				delete(state, k)
			} else {
				state[k] = v
			}
		}
	}
	b := map[string]string{"tables/t00/part-00001.parquet": "v2", "tables/t01/part-00002.parquet": ""}
	cb := e.commit(t, repo, b)
	apply(b)
	c := map[string]string{"tables/t09/part-00000.parquet": "v3 new", "tables/t09/_SUCCESS": "v3 marker"}
	cc := e.commit(t, repo, c)
	apply(c)
	// A change on another branch, merged into main.
	if _, err := e.graph.CreateBranch(e.ctx, repo, "dev", "main"); err != nil {
		t.Fatal(err)
	}
	d := map[string]string{"tables/t02/part-00003.parquet": "dev", "tables/t02/part-00004.parquet": ""}
	e.commitOn(t, repo, "dev", d)
	m, err := e.graph.Merge(e.ctx, repo, "dev", "main", graph.MergeParams{CommitParams: graph.CommitParams{Message: "merge dev", Committer: "tester"}})
	if err != nil {
		t.Fatal(err)
	}
	apply(d)

	deadline := time.Now().Add(jobTimeout)
	for {
		r, err := rules.Get(e.ctx, repo, "main")
		if err != nil {
			t.Fatal(err)
		}
		if r.LastExported == m.ID && r.PendingJob == "" {
			break
		}
		if r.LastError != "" || time.Now().After(deadline) {
			t.Fatalf("rule %+v, want it at %s", r, m.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := contents(t, e.s3, dst, "main/")
	if names := statusFiles(got); len(names) != 4 {
		t.Fatalf("status files %v, want one per export (4)", names)
	}
	equalObjects(t, got, maps.Clone(state))

	// One export per commit, in commit order, each a diff from the last.
	list, _, err := e.jobs.List(e.ctx, repo, jobs.Filter{Kind: jobs.KindExport}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var chain []string
	for _, j := range list[1:] {
		var req jobs.ExportRequest
		if err := json.Unmarshal(j.Request, &req); err != nil {
			t.Fatal(err)
		}
		if j.State != jobs.StateCompleted || req.RuleBranch != "main" {
			t.Fatalf("export %s: %s, rule %q", j.ID, j.State, req.RuleBranch)
		}
		chain = append(chain, fmt.Sprintf("%.8s→%.8s", req.PrevCommitID, req.CommitID))
	}
	want := []string{
		fmt.Sprintf("%.8s→%.8s", a.ID, cb.ID),
		fmt.Sprintf("%.8s→%.8s", cb.ID, cc.ID),
		fmt.Sprintf("%.8s→%.8s", cc.ID, m.ID),
	}
	if fmt.Sprint(chain) != fmt.Sprint(want) {
		t.Fatalf("continuous exports %v, want %v", chain, want)
	}
}

// TestContinuousExportRetriesFailure: an export of the rule that fails is
// recorded in the rule and submitted again later.
func TestContinuousExportRetriesFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	repo := e.repo(t, "retry")
	a := e.commit(t, repo, map[string]string{"x": "1"})
	rules := e.jobs.ExportRules()
	dst := e.bucket(t, "dst")
	if _, err := rules.Put(e.ctx, &jobs.ExportRule{Repo: repo, Branch: "main", Destination: "s3://" + dst + "/", LastExported: a.ID}); err != nil {
		t.Fatal(err)
	}
	b := e.commit(t, repo, map[string]string{"y": "2"})
	now := time.Now()
	w, err := NewWatcher(WatcherConfig{RetryBase: time.Hour, Now: func() time.Time { return now }}, WatcherDeps{Graph: e.graph, Jobs: e.jobs, Broker: e.broker, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(e.ctx); err != nil {
		t.Fatal(err)
	}
	r, err := rules.Get(e.ctx, repo, "main")
	if err != nil || r.Pending != b.ID || r.PendingJob == "" {
		t.Fatalf("rule after the first pass: %+v, %v", r, err)
	}
	first := r.PendingJob
	// No worker runs it: fail it by hand.
	if _, err := e.jobs.Update(e.ctx, first, func(j *jobs.Job) error {
		j.State, j.Error = jobs.StateFailed, "destination gone"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(e.ctx); err != nil {
		t.Fatal(err)
	}
	r, _ = rules.Get(e.ctx, repo, "main")
	if r.PendingJob != "" || r.Failures != 1 || r.LastExported != a.ID || r.NextAttempt.Sub(now) != time.Hour {
		t.Fatalf("rule after the failure: %+v", r)
	}
	now = now.Add(time.Hour)
	if err := w.Poll(e.ctx); err != nil {
		t.Fatal(err)
	}
	r, _ = rules.Get(e.ctx, repo, "main")
	if r.Pending != b.ID || r.PendingJob == "" || r.PendingJob == first {
		t.Fatalf("rule after the retry: %+v", r)
	}
	j, err := e.jobs.Get(e.ctx, r.PendingJob)
	if err != nil || j.State != jobs.StateSubmitted {
		t.Fatalf("retried export %+v, %v", j, err)
	}
}
