package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/workers"
)

// taskPayload is what one task works on: span Index of the export, in
// the round of wave Wave.
type taskPayload struct {
	Wave  int  `json:"wave"`
	Round int  `json:"round"`
	Index int  `json:"index"`
	Span  span `json:"span"`
}

// taskID names the task of span idx in wave.
func taskID(wave, round, idx int) string { return fmt.Sprintf("w%04d-r%04d-s%06d", wave, round, idx) }

// cancelCheckEvery is how many changes a task handles between two looks
// at whether its job was canceled.
const cancelCheckEvery = 256

// RunTask copies (and in diff mode deletes) the objects of one span that
// belong to the task's round. A task whose result is stored already does
// nothing; a task that had started before checks the destination before
// each copy. Per-object failures are recorded in the result, not
// returned: the task fails only when its context ends or the job is
// canceled, or when the KV cannot be written.
func (h *Handler) RunTask(ctx context.Context, rt *workers.Run, task workers.Task) error {
	var p taskPayload
	if err := json.Unmarshal(task.Payload, &p); err != nil {
		return workers.Permanent(fmt.Errorf("%w: export task %s: %v", store.ErrInvalidValue, task.ID, err))
	}
	j := rt.Job()
	if r, err := h.loadResult(ctx, j.ID, p.Wave, p.Index); err != nil || r != nil {
		return err
	}
	x, err := h.load(ctx, j)
	if err != nil {
		return err
	}
	again, err := h.markStarted(ctx, j.ID, p.Wave, p.Index)
	if err != nil {
		return err
	}
	if again {
		rt.Logger().InfoContext(ctx, "export task runs again: skipping objects already copied", "task", task.ID)
	}
	res, err := h.runSpan(ctx, rt, x, p, again)
	if err != nil {
		return err
	}
	return h.saveResult(ctx, j.ID, p.Wave, p.Index, res)
}

// spanRun collects the outcome of one task's copies.
type spanRun struct {
	mu     sync.Mutex
	res    taskResult
	listed int
}

func (s *spanRun) fail(path string, err error, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.Failed++
	if s.listed < limit {
		msg := strings.ToValidUTF8(err.Error(), "\uFFFD")
		if len(msg) > maxErrorLen {
			cut := maxErrorLen
			for cut > 0 && !utf8.RuneStart(msg[cut]) {
				cut--
			}
			msg = msg[:cut] + "…"
		}
		s.res.Failures = append(s.res.Failures, failure{Path: path, Error: msg})
		s.listed++
	}
}

// runSpan walks the span and applies the changes of round p.Round, at
// most the job's parallelism of copies at a time on this worker.
func (h *Handler) runSpan(ctx context.Context, rt *workers.Run, x *export, p taskPayload, check bool) (*taskResult, error) {
	lim := h.slots.get(x.job.ID, x.req.EffectiveParallelism())
	defer h.slots.put(x.job.ID)

	run := &spanRun{}
	// Workers report to the walk through firstErr; the walk stops at the
	// first context error. Every goroutine started here is waited for.
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	setErr := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	var deletes []string
	flush := func() error {
		if len(deletes) == 0 {
			return nil
		}
		keys := deletes
		deletes = nil
		if err := lim.acquire(ctx); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer lim.release()
			n, bad, err := h.deleteKeys(ctx, x, keys)
			if err != nil {
				setErr(err)
				return
			}
			for _, d := range bad {
				run.fail(d.Key[len(x.dst.Key):], fmt.Errorf("delete: %w", d.Err), h.cfg.FailuresListed)
			}
			run.mu.Lock()
			run.res.Deleted += n
			run.mu.Unlock()
			rt.Progress(ctx, func(pr *jobs.Progress) { pr.Done += n; pr.Failed += int64(len(bad)) })
		}()
		return nil
	}
	seen := 0
	walkErr := h.walk(ctx, x, p.Span, func(c change) error {
		round := x.rounds.Round(c.Path)
		if round != p.Round {
			if round > p.Round {
				run.mu.Lock()
				run.res.addLater(round)
				run.mu.Unlock()
			}
			return nil
		}
		if seen++; seen%cancelCheckEvery == 0 && rt.Canceled(ctx) {
			return workers.ErrCanceled
		}
		if c.Entry == nil {
			deletes = append(deletes, x.dst.Key+c.Path)
			if len(deletes) == block.MaxDeleteBatch {
				return flush()
			}
			return nil
		}
		if err := lim.acquire(ctx); err != nil {
			return err
		}
		e := c.Entry
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer lim.release()
			out, err := h.copyObject(ctx, x, e, check)
			if err != nil && ctx.Err() != nil {
				setErr(ctx.Err())
				return
			}
			switch out {
			case copied:
				run.mu.Lock()
				run.res.Copied++
				run.res.Bytes += e.Size
				run.mu.Unlock()
				rt.Progress(ctx, func(pr *jobs.Progress) { pr.Done++; pr.Bytes += e.Size })
			case skipped:
				run.mu.Lock()
				run.res.Skipped++
				run.mu.Unlock()
				rt.Progress(ctx, func(pr *jobs.Progress) { pr.Done++ })
			case failed:
				run.fail(e.Path, err, h.cfg.FailuresListed)
				rt.Progress(ctx, func(pr *jobs.Progress) { pr.Failed++ })
			}
		}()
		return nil
	})
	if walkErr == nil {
		walkErr = flush()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr // the context ended under a copy or a delete
	}
	if walkErr != nil {
		if errors.Is(walkErr, workers.ErrCanceled) || ctx.Err() != nil || !workers.IsPermanent(classify(walkErr)) {
			return nil, walkErr // canceled, or transient: the task runs again
		}
		// A span whose ranges cannot be read is a failure of the span, not
		// of the job: the status file reports it like an object.
		run.fail(fmt.Sprintf("[%s … %s]", p.Span.Lo, p.Span.Hi), fmt.Errorf("read span: %w", walkErr), h.cfg.FailuresListed)
	}
	return &run.res, nil
}
