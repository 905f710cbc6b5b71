package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// KV layout: every job record in one partition keyed by id (ids are
// time-sortable, so a scan is in submission order); a per-repository
// index partition keyed by id, whose value is the job's kind; and the ids
// of the jobs created but not yet known to be queued, whose value is the
// job's kind too.
const (
	jobsPartition     = "jobs"
	unqueuedPartition = "jobs-unqueued"
)

func repoIndex(repo store.RepoID) string { return "jobs-of/" + string(repo) }

// Store keeps job state in a metadata KV. It is safe for concurrent use.
type Store struct {
	kv  kv.Store
	now func() time.Time
}

// NewStore returns a job store over s. now is the clock (nil: time.Now).
func NewStore(s kv.Store, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{kv: s, now: now}
}

// Create stores a new job in state SUBMITTED, marked unqueued until
// MarkQueued: whoever creates a job must queue it and then say so, and
// Requeue queues the jobs whose creator died in between. Creating a job
// whose id exists already returns the stored job and an error wrapping
// store.ErrAlreadyExists, so a retried submission can answer with it.
func (s *Store) Create(ctx context.Context, j *Job) (*Job, error) {
	if err := ValidateID(j.ID); err != nil {
		return nil, fmt.Errorf("create job %q: %w", j.ID, err)
	}
	// The mark goes first: a creator that dies after it leaves a mark
	// without a job, which Requeue drops, never a job without a mark.
	if err := s.kv.Set(ctx, unqueuedPartition, string(j.ID), []byte(j.Kind)); err != nil {
		return nil, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	now := s.now().UTC()
	nj := *j
	nj.State, nj.CreatedAt, nj.UpdatedAt, nj.Revision = StateSubmitted, now, now, 1
	raw, err := json.Marshal(&nj)
	if err != nil {
		return nil, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	if err := s.kv.SetIf(ctx, jobsPartition, string(j.ID), raw, nil); err != nil {
		if errors.Is(err, kv.ErrPredicateFailed) {
			old, gerr := s.Get(ctx, j.ID)
			if gerr != nil {
				return nil, gerr
			}
			// A creator that died between the two writes left the job out
			// of its repository's index: the retry repairs it.
			if err := s.index(ctx, old); err != nil {
				return nil, err
			}
			return old, fmt.Errorf("job %s: %w", j.ID, store.ErrAlreadyExists)
		}
		return nil, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	if err := s.index(ctx, &nj); err != nil {
		return nil, err
	}
	return &nj, nil
}

// Publish puts job j's message (EncodeMessage) on the jobs stream, with
// the job id as its de-duplication id; (*broker.Broker).QueueJob is one.
type Publish func(ctx context.Context, j *Job) error

// ErrNotMarked reports that a job was queued but could not be marked so:
// the job will run, and Requeue queues it again, which the stream drops as
// a duplicate.
var ErrNotMarked = errors.New("job queued but not marked queued")

// Queue queues job j, created by Create, with publish, then marks it
// queued. An error from publish is returned as it is: j is not queued. A
// failed mark returns an error wrapping ErrNotMarked.
func (s *Store) Queue(ctx context.Context, j *Job, publish Publish) error {
	if err := publish(ctx, j); err != nil {
		return err
	}
	if err := s.MarkQueued(ctx, j.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrNotMarked, err)
	}
	return nil
}

// MarkQueued records that job id's message is in the jobs stream.
func (s *Store) MarkQueued(ctx context.Context, id store.JobID) error {
	if err := s.kv.Delete(ctx, unqueuedPartition, string(id)); err != nil && !errors.Is(err, kv.ErrNotFound) {
		return fmt.Errorf("mark job %s queued: %w", id, err)
	}
	return nil
}

// Requeue publishes every job created before cutoff that is still
// SUBMITTED and not marked queued, then marks it queued; marks of jobs
// that are gone or have started are dropped. It returns how many jobs it
// queued. publish must be idempotent for a job (the jobs stream drops a
// message id it has seen within its duplicate window). Several workers may
// run Requeue at once.
func (s *Store) Requeue(ctx context.Context, cutoff time.Time, publish Publish) (int, error) {
	it := kv.Scan(ctx, s.kv, unqueuedPartition, "", "", 0)
	n := 0
	for it.Next() {
		id := store.JobID(it.Entry().Key)
		created, err := idTime(id)
		if err == nil && !created.Before(cutoff) {
			continue
		}
		if err == nil {
			j, err := s.Get(ctx, id)
			switch {
			case errors.Is(err, store.ErrJobNotFound):
			case err != nil:
				return n, err
			case j.State == StateSubmitted:
				if err := publish(ctx, j); err != nil {
					return n, fmt.Errorf("requeue job %s: %w", id, err)
				}
				n++
			}
		}
		if err := s.MarkQueued(ctx, id); err != nil {
			return n, err
		}
	}
	return n, it.Err()
}

// index adds j to its repository's index (idempotent).
func (s *Store) index(ctx context.Context, j *Job) error {
	if j.Repo == "" {
		return nil
	}
	if err := s.kv.Set(ctx, repoIndex(j.Repo), string(j.ID), []byte(j.Kind)); err != nil {
		return fmt.Errorf("index job %s: %w", j.ID, err)
	}
	return nil
}

// Get returns job id, or an error wrapping store.ErrJobNotFound.
func (s *Store) Get(ctx context.Context, id store.JobID) (*Job, error) {
	j, _, err := s.get(ctx, id)
	return j, err
}

func (s *Store) get(ctx context.Context, id store.JobID) (*Job, []byte, error) {
	raw, err := s.kv.Get(ctx, jobsPartition, string(id))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil, fmt.Errorf("job %q: %w", id, store.ErrJobNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get job %s: %w", id, err)
	}
	var j Job
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, nil, fmt.Errorf("decode job %s: %w", id, err)
	}
	return &j, raw, nil
}

// ErrKeep, returned by an Update function, ends Update without writing
// and without an error.
var ErrKeep = errors.New("keep job as it is")

// Update changes job id by compare-and-swap: fn edits a copy of the
// current record and the change is written only if nobody changed the
// record meanwhile; otherwise fn runs again on the fresh record. A job in a
// terminal state is never changed: Update returns it with an error
// wrapping store.ErrJobFinished without calling fn. fn must be free of side
// effects.
func (s *Store) Update(ctx context.Context, id store.JobID, fn func(j *Job) error) (*Job, error) {
	backoff := time.Millisecond
	for range 100 {
		cur, raw, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if cur.State.Terminal() {
			return cur, fmt.Errorf("job %s is %s: %w", id, cur.State, store.ErrJobFinished)
		}
		next := *cur
		if err := fn(&next); err != nil {
			if errors.Is(err, ErrKeep) {
				return cur, nil
			}
			return cur, err
		}
		if !next.State.Valid() {
			return cur, fmt.Errorf("job %s: %w: state %q", id, store.ErrInvalidValue, next.State)
		}
		now := s.now().UTC()
		next.UpdatedAt = now
		next.Revision = cur.Revision + 1
		if next.State == StateInProgress && next.StartedAt.IsZero() {
			next.StartedAt = now
		}
		if next.State.Terminal() {
			next.FinishedAt = now
		}
		nraw, err := json.Marshal(&next)
		if err != nil {
			return cur, fmt.Errorf("update job %s: %w", id, err)
		}
		err = s.kv.SetIf(ctx, jobsPartition, string(id), nraw, raw)
		if err == nil {
			return &next, nil
		}
		if !errors.Is(err, kv.ErrPredicateFailed) {
			return cur, fmt.Errorf("update job %s: %w", id, err)
		}
		t := time.NewTimer(backoff + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return cur, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
	return nil, fmt.Errorf("update job %s: %w", id, store.ErrTooManyRetries)
}

// RequestCancel asks for job id to be canceled. A job not yet started is
// canceled at once; a running one is flagged and its worker cancels it
// between units of work. A finished job fails with store.ErrJobFinished,
// and one committing its result with store.ErrJobCommitting.
func (s *Store) RequestCancel(ctx context.Context, id store.JobID) (*Job, error) {
	return s.Update(ctx, id, func(j *Job) error {
		if j.Committing {
			return store.ErrJobCommitting
		}
		if j.State == StateSubmitted {
			j.State = StateCanceled
			j.Error = "canceled before it started"
		}
		j.CancelRequested = true
		return nil
	})
}

// Filter selects jobs in List; empty fields match everything.
type Filter struct {
	Kind  Kind
	State State
}

// List returns up to amount jobs of repo matching f, in submission order,
// starting after job id after, and whether more may follow.
func (s *Store) List(ctx context.Context, repo store.RepoID, f Filter, after store.JobID, amount int) ([]*Job, bool, error) {
	if amount <= 0 || amount > 1000 {
		amount = 100
	}
	start := ""
	if after != "" {
		start = string(after) + "\x00"
	}
	it := kv.Scan(ctx, s.kv, repoIndex(repo), "", start, 0)
	var out []*Job
	for it.Next() {
		e := it.Entry()
		if f.Kind != "" && Kind(e.Value) != f.Kind {
			continue
		}
		j, err := s.Get(ctx, store.JobID(e.Key))
		if errors.Is(err, store.ErrNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return nil, false, err
		}
		if f.State != "" && j.State != f.State {
			continue
		}
		if len(out) == amount {
			return out, true, nil
		}
		out = append(out, j)
	}
	return out, false, it.Err()
}

// Expire deletes jobs that finished before cutoff and returns how many it
// deleted. Jobs still running are kept whatever their age.
func (s *Store) Expire(ctx context.Context, cutoff time.Time) (int, error) {
	it := kv.Scan(ctx, s.kv, jobsPartition, "", "", 0)
	n := 0
	for it.Next() {
		var j Job
		if err := json.Unmarshal(it.Entry().Value, &j); err != nil {
			continue
		}
		if !j.State.Terminal() || j.FinishedAt.After(cutoff) {
			continue
		}
		// The record goes last: a crash before it leaves the job for the
		// next Expire to finish. A terminal record never changes, so
		// removing its index entry first cannot hide a live job.
		if err := s.kv.DropPartition(ctx, tasksPartition(j.ID)); err != nil {
			return n, fmt.Errorf("expire job %s: task ledger: %w", j.ID, err)
		}
		if j.Repo != "" {
			if err := s.kv.Delete(ctx, repoIndex(j.Repo), string(j.ID)); err != nil {
				return n, fmt.Errorf("expire job %s: %w", j.ID, err)
			}
		}
		if err := s.kv.DeleteIf(ctx, jobsPartition, string(j.ID), it.Entry().Value); err != nil {
			if errors.Is(err, kv.ErrPredicateFailed) {
				continue // expired meanwhile by another worker
			}
			return n, fmt.Errorf("expire job %s: %w", j.ID, err)
		}
		n++
	}
	return n, it.Err()
}
