package jobs_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

const (
	commitA = store.CommitID("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	commitB = store.CommitID("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
)

func TestExportRequestValidate(t *testing.T) {
	valid := jobs.ExportRequest{CommitID: commitA, Destination: "s3://bucket/prefix/"}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", valid, err)
	}
	tests := []struct {
		name string
		edit func(r *jobs.ExportRequest)
		ok   bool
	}{
		{"diff", func(r *jobs.ExportRequest) { r.PrevCommitID = commitB }, true},
		{"local destination", func(r *jobs.ExportRequest) { r.Destination = "local://bucket/x" }, true},
		{"absolute local destination", func(r *jobs.ExportRequest) { r.Destination = "local:///tmp/out/" }, true},
		{"bucket root", func(r *jobs.ExportRequest) { r.Destination = "s3://bucket" }, true},
		{"custom rounds", func(r *jobs.ExportRequest) {
			r.Rounds = []jobs.ExportRound{{Pattern: `\.json$`, Round: 2}, {Pattern: `^_meta/`, Round: 1}}
		}, true},
		{"parallelism", func(r *jobs.ExportRequest) { r.Parallelism = 8 }, true},
		{"no commit", func(r *jobs.ExportRequest) { r.CommitID = "" }, false},
		{"short commit", func(r *jobs.ExportRequest) { r.CommitID = "abc" }, false},
		{"bad prev commit", func(r *jobs.ExportRequest) { r.PrevCommitID = "main" }, false},
		{"no destination", func(r *jobs.ExportRequest) { r.Destination = "" }, false},
		{"bad scheme", func(r *jobs.ExportRequest) { r.Destination = "gs://bucket/x/" }, false},
		{"bad bucket", func(r *jobs.ExportRequest) { r.Destination = "s3://B/x/" }, false},
		{"negative parallelism", func(r *jobs.ExportRequest) { r.Parallelism = -1 }, false},
		{"huge parallelism", func(r *jobs.ExportRequest) { r.Parallelism = jobs.MaxExportParallelism + 1 }, false},
		{"bad pattern", func(r *jobs.ExportRequest) { r.Rounds = []jobs.ExportRound{{Pattern: "(", Round: 1}} }, false},
		{"empty pattern", func(r *jobs.ExportRequest) { r.Rounds = []jobs.ExportRound{{Pattern: "", Round: 1}} }, false},
		{"negative round", func(r *jobs.ExportRequest) { r.Rounds = []jobs.ExportRound{{Pattern: "x", Round: -1}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid
			tt.edit(&r)
			err := r.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestExportDestinationAddsSlash(t *testing.T) {
	for in, want := range map[string]string{
		"s3://bucket/prefix":    "s3://bucket/prefix/",
		"s3://bucket/prefix/":   "s3://bucket/prefix/",
		"s3://bucket":           "s3://bucket/",
		"local:///tmp/out":      "local:///tmp/out/",
		"local://lakeq/exports": "local://lakeq/exports/",
	} {
		u, err := jobs.ExportDestination(in)
		if err != nil || u.String() != want {
			t.Errorf("ExportDestination(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
}

func TestExportRounds(t *testing.T) {
	def, err := jobs.CompileExportRounds(nil)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := jobs.CompileExportRounds([]jobs.ExportRound{
		{Pattern: `\.done$`, Round: 5},
		{Pattern: `^logs/`, Round: 2},
		{Pattern: `\.done$`, Round: 3}, // shadowed by the first rule
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rounds *jobs.ExportRounds
		path   string
		want   int
	}{
		{def, "_SUCCESS", 1},
		{def, "table/part=1/_SUCCESS", 1},
		{def, "table/_SUCCESS.crc", 0},
		{def, "table/x_SUCCESS", 0},
		{def, "table/part-0000.parquet", 0},
		{custom, "logs/a.done", 5},
		{custom, "logs/a", 2},
		{custom, "data/_SUCCESS", 0},
	}
	for _, tt := range tests {
		if got := tt.rounds.Round(tt.path); got != tt.want {
			t.Errorf("Round(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	if got := def.Rounds(); len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Errorf("default Rounds() = %v, want [0 1]", got)
	}
	if got := custom.Rounds(); len(got) != 4 || got[0] != 0 || got[1] != 2 || got[2] != 3 || got[3] != 5 {
		t.Errorf("custom Rounds() = %v, want [0 2 3 5]", got)
	}
}

func TestExportStatusName(t *testing.T) {
	at := time.Date(2026, 11, 22, 3, 50, 7, 123, time.FixedZone("x", 3600))
	ok := jobs.ExportStatusName(commitA, at, true)
	if want := "EXPORT_" + string(commitA) + "_20261122T025007Z_SUCCESS"; ok != want {
		t.Fatalf("ExportStatusName = %q, want %q", ok, want)
	}
	bad := jobs.ExportStatusName(commitA, at, false)
	if !strings.HasSuffix(bad, "_FAILURE") {
		t.Fatalf("failure name %q", bad)
	}
	if strings.ContainsAny(ok, `:\/*?"<>| `) {
		t.Fatalf("status name %q has characters unsafe in file names", ok)
	}
}

func TestExportRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		ctx := t.Context()
		rules := s.ExportRules()
		if _, err := rules.Get(ctx, "repo1", "main"); !errors.Is(err, jobs.ErrExportRuleNotFound) {
			t.Fatalf("Get missing = %v", err)
		}
		bad := &jobs.ExportRule{Repo: "repo1", Branch: "main", Destination: "ftp://x", LastExported: commitA}
		if _, err := rules.Put(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Put bad destination = %v", err)
		}
		r, err := rules.Put(ctx, &jobs.ExportRule{Repo: "repo1", Branch: "main", Destination: "s3://bucket/a/", LastExported: commitA})
		if err != nil {
			t.Fatal(err)
		}
		if r.LastExported != commitA || r.CreatedAt.IsZero() {
			t.Fatalf("Put = %+v", r)
		}
		// An export under way survives a replaced rule, as does the position.
		if _, err := rules.Update(ctx, "repo1", "main", func(r *jobs.ExportRule) error {
			r.Pending, r.PendingJob = commitB, "job"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		r, err = rules.Put(ctx, &jobs.ExportRule{Repo: "repo1", Branch: "main", Destination: "s3://bucket/b/", LastExported: commitB})
		if err != nil {
			t.Fatal(err)
		}
		if r.Destination != "s3://bucket/b/" || r.LastExported != commitA || r.Pending != commitB {
			t.Fatalf("replaced rule = %+v", r)
		}
		if _, err := rules.Put(ctx, &jobs.ExportRule{Repo: "repo2", Branch: "dev", Destination: "s3://bucket/c/", LastExported: commitA}); err != nil {
			t.Fatal(err)
		}
		var all []string
		if err := rules.List(ctx, func(r *jobs.ExportRule) error {
			all = append(all, string(r.Repo)+"/"+string(r.Branch))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(all, ",") != "repo1/main,repo2/dev" {
			t.Fatalf("List = %v", all)
		}
		var one []string
		if err := rules.ListRepo(ctx, "repo2", func(r *jobs.ExportRule) error {
			one = append(one, string(r.Branch))
			return nil
		}); err != nil || strings.Join(one, ",") != "dev" {
			t.Fatalf("ListRepo = %v, %v", one, err)
		}
		wrote, err := rules.Update(ctx, "repo1", "main", func(*jobs.ExportRule) error { return jobs.ErrKeep })
		if err != nil || wrote {
			t.Fatalf("Update keep = %v, %v", wrote, err)
		}
		if err := rules.Delete(ctx, "repo1", "main"); err != nil {
			t.Fatal(err)
		}
		if err := rules.Delete(ctx, "repo1", "main"); !errors.Is(err, jobs.ErrExportRuleNotFound) {
			t.Fatalf("second Delete = %v", err)
		}
	})
}

// TestExportRuleUpdateRace checks that concurrent compare-and-swap updates
// of one rule lose none.
func TestExportRuleUpdateRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		ctx := t.Context()
		rules := s.ExportRules()
		if _, err := rules.Put(ctx, &jobs.ExportRule{Repo: "repo1", Branch: "main", Destination: "s3://bucket/a/", LastExported: commitA}); err != nil {
			t.Fatal(err)
		}
		const n = 20
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := rules.Update(ctx, "repo1", "main", func(r *jobs.ExportRule) error {
					r.Failures++
					return nil
				}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		r, err := rules.Get(ctx, "repo1", "main")
		if err != nil || r.Failures != n {
			t.Fatalf("after %d updates: %+v, %v", n, r, err)
		}
	})
}
