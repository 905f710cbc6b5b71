package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

func TestCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		ctx := t.Context()
		in := newJob(jobs.KindImport, "repo-a")
		in.State = jobs.StateCompleted // ignored: a new job is SUBMITTED
		j, err := s.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != jobs.StateSubmitted || !j.CreatedAt.Equal(clk.Now()) || !j.UpdatedAt.Equal(clk.Now()) {
			t.Fatalf("created job: state %s, created %s, updated %s", j.State, j.CreatedAt, j.UpdatedAt)
		}
		got, err := s.Get(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != in.ID || got.Kind != jobs.KindImport || got.Repo != "repo-a" || got.State != jobs.StateSubmitted ||
			string(got.Request) != string(in.Request) || !got.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("Get = %+v", got)
		}
		if _, err := s.Get(ctx, jobs.NewID(time.Now())); !errors.Is(err, store.ErrJobNotFound) {
			t.Fatalf("Get unknown: %v, want ErrJobNotFound", err)
		}
	})
}

func TestCreateDedup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		ctx := t.Context()
		first := mustCreate(t, s, jobs.KindExport, "repo-a")
		setState(t, s, first.ID, jobs.StateInProgress)
		clk.Advance(time.Minute)

		again := *first
		again.Request = []byte(`{"other":true}`)
		old, err := s.Create(ctx, &again)
		if !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("second Create: %v, want ErrAlreadyExists", err)
		}
		if old == nil || old.State != jobs.StateInProgress || string(old.Request) != string(first.Request) {
			t.Fatalf("second Create returned %+v, want the stored job", old)
		}
		list, _, err := s.List(ctx, "repo-a", jobs.Filter{}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("List after a duplicate Create has %d jobs, want 1", len(list))
		}
	})
}

func TestCreateRejectsBadID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		good := string(jobs.NewID(time.Now()))
		tests := []struct{ name, id string }{
			{"Empty", ""},
			{"NotULID", "not-a-ulid"},
			{"Short", good[:25]},
			{"UpperCase", strings.ToUpper(good)},
			{"Dot", good[:25] + "."},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				j := newJob(jobs.KindGC, "repo-a")
				j.ID = store.JobID(tc.id)
				if _, err := s.Create(t.Context(), j); !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("Create(%q): %v, want ErrInvalid", tc.id, err)
				}
			})
		}
	})
}

func TestUpdateTimestamps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		j := mustCreate(t, s, jobs.KindImport, "repo-a")
		clk.Advance(time.Second)
		started := setState(t, s, j.ID, jobs.StateInProgress)
		if !started.StartedAt.Equal(clk.Now()) || !started.FinishedAt.IsZero() {
			t.Fatalf("started: StartedAt %s, FinishedAt %s", started.StartedAt, started.FinishedAt)
		}
		clk.Advance(time.Second)
		again := setState(t, s, j.ID, jobs.StateInProgress)
		if !again.StartedAt.Equal(started.StartedAt) || !again.UpdatedAt.Equal(clk.Now()) {
			t.Fatalf("second start moved StartedAt to %s (UpdatedAt %s)", again.StartedAt, again.UpdatedAt)
		}
		clk.Advance(time.Second)
		done := setState(t, s, j.ID, jobs.StateCompleted)
		if !done.FinishedAt.Equal(clk.Now()) {
			t.Fatalf("FinishedAt %s, want %s", done.FinishedAt, clk.Now())
		}
	})
}

func TestUpdateRejectsInvalidState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		j := mustCreate(t, s, jobs.KindImport, "repo-a")
		_, err := s.Update(t.Context(), j.ID, func(j *jobs.Job) error {
			j.State = "RUNNING"
			return nil
		})
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Update to an unknown state: %v, want ErrInvalid", err)
		}
		got, err := s.Get(t.Context(), j.ID)
		if err != nil || got.State != jobs.StateSubmitted {
			t.Fatalf("after a rejected update: %+v, %v", got, err)
		}
	})
}

func TestUpdateFnErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		j := mustCreate(t, s, jobs.KindImport, "repo-a")
		boom := errors.New("boom")
		tests := []struct {
			name    string
			err     error
			wantErr error
		}{
			{"Keep", jobs.ErrKeep, nil},
			{"Error", boom, boom},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Update(t.Context(), j.ID, func(j *jobs.Job) error {
					j.Progress.Done = 99
					return tc.err
				})
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Fatalf("Update: %v, want %v", err, tc.wantErr)
				}
				if got == nil || got.Progress.Done != 0 {
					t.Fatalf("Update returned %+v, want the unchanged job", got)
				}
				stored, err := s.Get(t.Context(), j.ID)
				if err != nil || stored.Progress.Done != 0 || !stored.UpdatedAt.Equal(j.UpdatedAt) {
					t.Fatalf("stored job changed: %+v, %v", stored, err)
				}
			})
		}
	})
}

func TestUpdateUnknownJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		called := false
		_, err := s.Update(t.Context(), jobs.NewID(time.Now()), func(*jobs.Job) error {
			called = true
			return nil
		})
		if !errors.Is(err, store.ErrJobNotFound) || called {
			t.Fatalf("Update of an unknown job: %v (fn called: %v)", err, called)
		}
	})
}

// TestUpdateConcurrent runs 16 updaters that each add to the same counter
// many times: compare-and-swap must lose no increment.
func TestUpdateConcurrent(t *testing.T) {
	const updaters, perUpdater = 16, 25
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		j := mustCreate(t, s, jobs.KindImport, "repo-a")
		var wg sync.WaitGroup
		errs := make(chan error, updaters)
		for w := range updaters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perUpdater {
					if _, err := s.Update(t.Context(), j.ID, func(j *jobs.Job) error {
						j.Progress.Done++
						j.Progress.Bytes += int64(w + 1)
						return nil
					}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent Update: %v", err)
		}
		got, err := s.Get(t.Context(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantBytes := int64(perUpdater * updaters * (updaters + 1) / 2)
		if got.Progress.Done != updaters*perUpdater || got.Progress.Bytes != wantBytes {
			t.Fatalf("after %d×%d updates: done %d, bytes %d; want %d, %d",
				updaters, perUpdater, got.Progress.Done, got.Progress.Bytes, updaters*perUpdater, wantBytes)
		}
		// Each write is one revision, from 1 at creation.
		if want := uint64(1 + updaters*perUpdater); j.Revision != 1 || got.Revision != want {
			t.Fatalf("revisions %d at creation and %d after the updates, want 1 and %d", j.Revision, got.Revision, want)
		}
	})
}

// TestUpdateConcurrentFinish races 16 workers that each try to finish the
// same job: exactly one wins, the others see ErrJobFinished.
func TestUpdateConcurrentFinish(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		j := mustCreate(t, s, jobs.KindImport, "repo-a")
		setState(t, s, j.ID, jobs.StateInProgress)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		finished := 0
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				worker := fmt.Sprintf("w%02d", w)
				_, err := s.Update(t.Context(), j.ID, func(j *jobs.Job) error {
					j.State, j.Worker = jobs.StateCompleted, worker
					return nil
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, worker)
				case errors.Is(err, store.ErrJobFinished):
					finished++
				default:
					t.Errorf("Update: %v", err)
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 || finished != 15 {
			t.Fatalf("winners %v, finished %d; want one winner and 15 ErrJobFinished", winners, finished)
		}
		got, err := s.Get(t.Context(), j.ID)
		if err != nil || got.Worker != winners[0] {
			t.Fatalf("stored worker %q (%v), want the winner %q", got.Worker, err, winners[0])
		}
	})
}

func TestTerminalStatesFinal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		for _, state := range []jobs.State{jobs.StateCompleted, jobs.StateFailed, jobs.StateCanceled} {
			t.Run(string(state), func(t *testing.T) {
				j := mustCreate(t, s, jobs.KindImport, "repo-a")
				setState(t, s, j.ID, jobs.StateInProgress)
				final := setState(t, s, j.ID, state)
				clk.Advance(time.Minute)
				for _, next := range []jobs.State{jobs.StateSubmitted, jobs.StateInProgress, jobs.StateCompleted, jobs.StateFailed} {
					called := false
					got, err := s.Update(t.Context(), j.ID, func(j *jobs.Job) error {
						called = true
						j.State = next
						return nil
					})
					if !errors.Is(err, store.ErrJobFinished) || !errors.Is(err, store.ErrConflict) {
						t.Fatalf("Update %s → %s: %v, want ErrJobFinished", state, next, err)
					}
					if called {
						t.Fatalf("Update of a %s job called fn", state)
					}
					if got == nil || got.State != state {
						t.Fatalf("Update returned %+v, want the %s job", got, state)
					}
				}
				if _, err := s.RequestCancel(t.Context(), j.ID); !errors.Is(err, store.ErrJobFinished) {
					t.Fatalf("RequestCancel of a %s job: %v, want ErrJobFinished", state, err)
				}
				stored, err := s.Get(t.Context(), j.ID)
				if err != nil || stored.State != state || !stored.UpdatedAt.Equal(final.UpdatedAt) || stored.CancelRequested {
					t.Fatalf("stored %+v (%v), want it unchanged", stored, err)
				}
			})
		}
	})
}

func TestRequestCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		t.Run("BeforeStart", func(t *testing.T) {
			j := mustCreate(t, s, jobs.KindImport, "repo-a")
			got, err := s.RequestCancel(t.Context(), j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != jobs.StateCanceled || !got.CancelRequested || got.FinishedAt.IsZero() || got.Error == "" {
				t.Fatalf("canceled before start: %+v", got)
			}
			// A worker taking the job afterwards cannot start it.
			if _, err := s.Update(t.Context(), j.ID, func(j *jobs.Job) error {
				j.State = jobs.StateInProgress
				return nil
			}); !errors.Is(err, store.ErrJobFinished) {
				t.Fatalf("start after cancel: %v, want ErrJobFinished", err)
			}
		})
		t.Run("WhileRunning", func(t *testing.T) {
			j := mustCreate(t, s, jobs.KindImport, "repo-a")
			setState(t, s, j.ID, jobs.StateInProgress)
			got, err := s.RequestCancel(t.Context(), j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != jobs.StateInProgress || !got.CancelRequested || !got.FinishedAt.IsZero() {
				t.Fatalf("cancel while running: %+v; want IN_PROGRESS with CancelRequested", got)
			}
			// Asking twice changes nothing more.
			again, err := s.RequestCancel(t.Context(), j.ID)
			if err != nil || again.State != jobs.StateInProgress || !again.CancelRequested {
				t.Fatalf("second RequestCancel: %+v, %v", again, err)
			}
			// The worker then cancels it.
			done := setState(t, s, j.ID, jobs.StateCanceled)
			if done.FinishedAt.IsZero() {
				t.Fatal("CANCELED job without FinishedAt")
			}
		})
		t.Run("Committing", func(t *testing.T) {
			j := mustCreate(t, s, jobs.KindImport, "repo-a")
			if _, err := s.Update(t.Context(), j.ID, func(j *jobs.Job) error {
				j.State, j.Committing = jobs.StateInProgress, true
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			got, err := s.RequestCancel(t.Context(), j.ID)
			if !errors.Is(err, store.ErrJobCommitting) || !errors.Is(err, store.ErrConflict) {
				t.Fatalf("cancel of a committing job: %v, want ErrJobCommitting", err)
			}
			if got.CancelRequested {
				t.Fatalf("a refused cancel flagged the job: %+v", got)
			}
		})
		t.Run("Unknown", func(t *testing.T) {
			if _, err := s.RequestCancel(t.Context(), jobs.NewID(time.Now())); !errors.Is(err, store.ErrJobNotFound) {
				t.Fatalf("RequestCancel unknown: %v", err)
			}
		})
	})
}

func TestList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		ctx := t.Context()
		// 12 jobs in repo-a alternating import/export, each with a state
		// from a cycle; 3 in repo-b.
		states := []jobs.State{jobs.StateSubmitted, jobs.StateInProgress, jobs.StateCompleted}
		var all []*jobs.Job
		base := time.Now()
		for i := range 12 {
			kind := jobs.KindImport
			if i%2 == 1 {
				kind = jobs.KindExport
			}
			j := newJob(kind, "repo-a")
			j.ID = jobs.NewID(base.Add(time.Duration(i) * time.Millisecond))
			if _, err := s.Create(ctx, j); err != nil {
				t.Fatal(err)
			}
			switch states[i%3] {
			case jobs.StateInProgress:
				setState(t, s, j.ID, jobs.StateInProgress)
			case jobs.StateCompleted:
				setState(t, s, j.ID, jobs.StateCompleted)
			}
			got, err := s.Get(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, got)
		}
		for range 3 {
			mustCreate(t, s, jobs.KindImport, "repo-b")
		}
		ids := func(js []*jobs.Job) []store.JobID {
			var out []store.JobID
			for _, j := range js {
				out = append(out, j.ID)
			}
			return out
		}
		match := func(f jobs.Filter) []store.JobID {
			var out []store.JobID
			for _, j := range all {
				if (f.Kind == "" || j.Kind == f.Kind) && (f.State == "" || j.State == f.State) {
					out = append(out, j.ID)
				}
			}
			return out
		}
		filters := []struct {
			name string
			f    jobs.Filter
		}{
			{"All", jobs.Filter{}},
			{"Kind", jobs.Filter{Kind: jobs.KindExport}},
			{"State", jobs.Filter{State: jobs.StateCompleted}},
			{"KindAndState", jobs.Filter{Kind: jobs.KindImport, State: jobs.StateInProgress}},
			{"NoMatch", jobs.Filter{Kind: jobs.KindGC}},
		}
		for _, tc := range filters {
			for _, amount := range []int{1, 2, 5, 100} {
				t.Run(fmt.Sprintf("%s/amount=%d", tc.name, amount), func(t *testing.T) {
					want := match(tc.f)
					var got []store.JobID
					var after store.JobID
					for pages := 0; ; pages++ {
						if pages > len(want)+1 {
							t.Fatalf("paging does not end: %v", got)
						}
						page, more, err := s.List(ctx, "repo-a", tc.f, after, amount)
						if err != nil {
							t.Fatal(err)
						}
						if len(page) > amount {
							t.Fatalf("page of %d jobs, amount %d", len(page), amount)
						}
						got = append(got, ids(page)...)
						if !more {
							break
						}
						if len(page) == 0 {
							t.Fatal("empty page with more to come")
						}
						after = page[len(page)-1].ID
					}
					if !slices.Equal(got, want) {
						t.Fatalf("listed %v\nwant %v", got, want)
					}
				})
			}
		}
		t.Run("OtherRepo", func(t *testing.T) {
			page, more, err := s.List(ctx, "repo-b", jobs.Filter{}, "", 100)
			if err != nil || len(page) != 3 || more {
				t.Fatalf("repo-b: %d jobs, more %v, %v", len(page), more, err)
			}
			page, _, err = s.List(ctx, "repo-c", jobs.Filter{}, "", 100)
			if err != nil || len(page) != 0 {
				t.Fatalf("empty repo: %d jobs, %v", len(page), err)
			}
		})
		t.Run("DefaultAmount", func(t *testing.T) {
			page, more, err := s.List(ctx, "repo-a", jobs.Filter{}, "", 0)
			if err != nil || len(page) != 12 || more {
				t.Fatalf("amount 0: %d jobs, more %v, %v", len(page), more, err)
			}
		})
	})
}

func TestExpire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		ctx := t.Context()
		running := mustCreate(t, s, jobs.KindImport, "repo-a")
		setState(t, s, running.ID, jobs.StateInProgress)
		queued := mustCreate(t, s, jobs.KindImport, "repo-a")
		oldDone := mustCreate(t, s, jobs.KindExport, "repo-a")
		setState(t, s, oldDone.ID, jobs.StateCompleted)
		oldFailed := mustCreate(t, s, jobs.KindGC, "repo-b")
		setState(t, s, oldFailed.ID, jobs.StateFailed)
		// A fanned-out job with a task ledger.
		oldFanned := mustCreate(t, s, jobs.KindImport, "repo-a")
		if _, err := s.MarkTaskDone(ctx, oldFanned.ID, 0, 2); err != nil {
			t.Fatal(err)
		}
		setState(t, s, oldFanned.ID, jobs.StateCanceled)

		clk.Advance(time.Hour)
		cutoff := clk.Now()
		clk.Advance(time.Minute)
		recent := mustCreate(t, s, jobs.KindExport, "repo-a")
		setState(t, s, recent.ID, jobs.StateCompleted)
		clk.Advance(7 * 24 * time.Hour)

		n, err := s.Expire(ctx, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("Expire deleted %d jobs, want 3", n)
		}
		for _, j := range []*jobs.Job{oldDone, oldFailed, oldFanned} {
			if _, err := s.Get(ctx, j.ID); !errors.Is(err, store.ErrJobNotFound) {
				t.Errorf("expired job %s: Get = %v, want ErrJobNotFound", j.ID, err)
			}
		}
		for _, j := range []*jobs.Job{running, queued, recent} {
			if _, err := s.Get(ctx, j.ID); err != nil {
				t.Errorf("kept job %s: %v", j.ID, err)
			}
		}
		page, _, err := s.List(ctx, "repo-a", jobs.Filter{}, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var listed []store.JobID
		for _, j := range page {
			listed = append(listed, j.ID)
		}
		if want := []store.JobID{running.ID, queued.ID, recent.ID}; !slices.Equal(listed, want) {
			t.Fatalf("List after Expire: %v, want %v", listed, want)
		}
		if done, err := s.TasksDone(ctx, oldFanned.ID, 2); err != nil || done != 0 {
			t.Fatalf("task ledger of an expired job: %d done, %v; want it dropped", done, err)
		}
		// Expiring again is a no-op (any worker may run it at any time).
		if n, err := s.Expire(ctx, cutoff); err != nil || n != 0 {
			t.Fatalf("second Expire: %d, %v", n, err)
		}
	})
}

// TestExpireConcurrent runs Expire from several workers at once: every old
// job is deleted once and nothing else is touched.
func TestExpireConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		const old = 30
		for range old {
			j := mustCreate(t, s, jobs.KindExport, "repo-a")
			setState(t, s, j.ID, jobs.StateCompleted)
		}
		keep := mustCreate(t, s, jobs.KindImport, "repo-a")
		clk.Advance(time.Hour)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Expire(t.Context(), clk.Now()); err != nil {
					t.Errorf("Expire: %v", err)
				}
			}()
		}
		wg.Wait()
		page, _, err := s.List(t.Context(), "repo-a", jobs.Filter{}, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 1 || page[0].ID != keep.ID {
			t.Fatalf("after concurrent Expire: %d jobs left, want only the running one", len(page))
		}
	})
}

func TestJobJSON(t *testing.T) {
	// The job record is what the API returns: field names are part of the
	// API.
	j := jobs.Job{ID: "01j0000000000000000000000a", Kind: jobs.KindImport, Repo: "repo-a", State: jobs.StateInProgress,
		Request: json.RawMessage(`{}`), Progress: jobs.Progress{Done: 3, Total: 10}}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "kind", "repository", "state", "request", "progress", "attempts", "created_at", "updated_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("job JSON lacks %q: %s", k, b)
		}
	}
	for _, k := range []string{"started_at", "finished_at", "error", "result", "checkpoint", "cancel_requested"} {
		if _, ok := m[k]; ok {
			t.Errorf("job JSON has empty %q: %s", k, b)
		}
	}
}

// createImport creates an import job of repo-a in s.
func createImport(t *testing.T, s *jobs.Store) *jobs.Job {
	t.Helper()
	j, err := s.Create(t.Context(), newJob(jobs.KindImport, "repo-a"))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestRequeue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		ctx := t.Context()
		create := func() *jobs.Job { return createImport(t, s) }
		lost, queued, started := create(), create(), create()
		if err := s.MarkQueued(ctx, queued.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, started.ID, func(j *jobs.Job) error { j.State = jobs.StateInProgress; return nil }); err != nil {
			t.Fatal(err)
		}
		requeue := func(cutoff time.Time) []store.JobID {
			t.Helper()
			var got []store.JobID
			n, err := s.Requeue(ctx, cutoff, func(_ context.Context, j *jobs.Job) error {
				got = append(got, j.ID)
				return nil
			})
			if err != nil || n != len(got) {
				t.Fatalf("Requeue: %d, %v; queued %v", n, err, got)
			}
			return got
		}
		// Jobs younger than the cut-off are left to their creator.
		if got := requeue(time.Now().Add(-time.Hour)); len(got) != 0 {
			t.Fatalf("requeued young jobs %v", got)
		}
		// Only the job that was never queued nor started is queued, once.
		if got := requeue(time.Now().Add(time.Hour)); len(got) != 1 || got[0] != lost.ID {
			t.Fatalf("requeued %v, want [%s]", got, lost.ID)
		}
		if got := requeue(time.Now().Add(time.Hour)); len(got) != 0 {
			t.Fatalf("second pass requeued %v", got)
		}
		// A failed queueing leaves the job for the next pass.
		again := create()
		if _, err := s.Requeue(ctx, time.Now().Add(time.Hour), func(context.Context, *jobs.Job) error {
			return errors.New("broker down")
		}); err == nil {
			t.Fatal("Requeue hid the queueing error")
		}
		if got := requeue(time.Now().Add(time.Hour)); len(got) != 1 || got[0] != again.ID {
			t.Fatalf("requeued %v after a failure, want [%s]", got, again.ID)
		}
	})
}

// TestQueue: a queued job is published once and marked, so Requeue leaves
// it; a job whose publishing fails is not marked and gets the publisher's
// error, so Requeue queues it later; a job published but not marked is
// reported with ErrNotMarked, and Requeue queues it again.
func TestQueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, clk *clock) {
		ctx := t.Context()
		create := func() *jobs.Job { return createImport(t, s) }
		var published []store.JobID
		publish := func(_ context.Context, j *jobs.Job) error {
			published = append(published, j.ID)
			return nil
		}
		ok, lost, unmarked := create(), create(), create()
		if err := s.Queue(ctx, ok, publish); err != nil {
			t.Fatal(err)
		}
		down := errors.New("broker down")
		if err := s.Queue(ctx, lost, func(context.Context, *jobs.Job) error { return down }); !errors.Is(err, down) || errors.Is(err, jobs.ErrNotMarked) {
			t.Fatalf("failed publish: %v, want the publisher's error", err)
		}
		// The client goes away once the message is out.
		gone, cancel := context.WithCancel(ctx)
		err := s.Queue(gone, unmarked, func(ctx context.Context, j *jobs.Job) error {
			cancel()
			return publish(ctx, j)
		})
		if !errors.Is(err, jobs.ErrNotMarked) {
			t.Fatalf("failed mark: %v, want ErrNotMarked", err)
		}
		if want := []store.JobID{ok.ID, unmarked.ID}; !slices.Equal(published, want) {
			t.Fatalf("published %v, want %v", published, want)
		}
		published = nil
		if n, err := s.Requeue(ctx, time.Now().Add(time.Hour), publish); err != nil || n != 2 {
			t.Fatalf("Requeue: %d, %v", n, err)
		}
		if want := []store.JobID{lost.ID, unmarked.ID}; !slices.Equal(published, want) {
			t.Fatalf("requeued %v, want %v", published, want)
		}
	})
}
