package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
)

// KV layout of an export's working state, in the job's work partition
// (jobs.WorkPartition, dropped when the job expires, so that the state of
// a finished export stays as long as its record):
//
//	export/started/<wave>/<span>   a task of the wave began (a later run is a redelivery)
//	export/result/<wave>/<span>    the task's result (written once, first wins)
//	export/status                  the status file's name, fixed once
//
// Waves number the rounds that ran, from 0.
func partition(id store.JobID) string { return jobs.WorkPartition(id) }

func startedKey(wave, idx int) string { return fmt.Sprintf("export/started/%04d/%06d", wave, idx) }

func resultPrefix(wave int) string { return fmt.Sprintf("export/result/%04d/", wave) }

func resultKey(wave, idx int) string { return fmt.Sprintf("%s%06d", resultPrefix(wave), idx) }

const statusKey = "export/status"

// failure is one object an export could not handle.
type failure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// maxErrorLen bounds the error message kept per failed object.
const maxErrorLen = 512

// taskResult is what one task did.
type taskResult struct {
	Copied  int64 `json:"copied,omitempty"`
	Skipped int64 `json:"skipped,omitempty"`
	Deleted int64 `json:"deleted,omitempty"`
	Failed  int64 `json:"failed,omitempty"`
	Bytes   int64 `json:"bytes,omitempty"`
	// Failures lists failed objects, up to Config.FailuresListed.
	Failures []failure `json:"failures,omitempty"`
	// Later lists the rounds after the task's own that have objects in
	// its span, ascending.
	Later []int `json:"later,omitempty"`
}

func (r *taskResult) addLater(round int) {
	if i, found := slices.BinarySearch(r.Later, round); !found {
		r.Later = slices.Insert(r.Later, i, round)
	}
}

// markStarted records that task (wave, idx) of job id began and reports
// whether it had begun before.
func (h *Handler) markStarted(ctx context.Context, id store.JobID, wave, idx int) (bool, error) {
	err := h.kv.SetIf(ctx, partition(id), startedKey(wave, idx), []byte{1}, nil)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, kv.ErrPredicateFailed):
		return true, nil
	}
	return false, fmt.Errorf("export %s: mark task %d/%d started: %w", id, wave, idx, err)
}

// loadResult returns the stored result of task (wave, idx), or nil.
func (h *Handler) loadResult(ctx context.Context, id store.JobID, wave, idx int) (*taskResult, error) {
	raw, err := h.kv.Get(ctx, partition(id), resultKey(wave, idx))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("export %s: load task %d/%d: %w", id, wave, idx, err)
	}
	var r taskResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("export %s: decode task %d/%d: %w", id, wave, idx, err)
	}
	return &r, nil
}

// saveResult stores the result of task (wave, idx) unless one is stored
// already (a concurrent run of the same task got there first).
func (h *Handler) saveResult(ctx context.Context, id store.JobID, wave, idx int, r *taskResult) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	err = h.kv.SetIf(ctx, partition(id), resultKey(wave, idx), raw, nil)
	if err != nil && !errors.Is(err, kv.ErrPredicateFailed) {
		return fmt.Errorf("export %s: save task %d/%d: %w", id, wave, idx, err)
	}
	return nil
}

// eachResult calls fn with the stored results of wave's tasks, in span
// order.
func (h *Handler) eachResult(ctx context.Context, id store.JobID, wave int, fn func(idx int, r *taskResult) error) error {
	it := kv.Scan(ctx, h.kv, partition(id), resultPrefix(wave), "", 0)
	for it.Next() {
		e := it.Entry()
		var idx int
		if _, err := fmt.Sscanf(e.Key[len(resultPrefix(wave)):], "%d", &idx); err != nil {
			return fmt.Errorf("export %s: result key %q: %w", id, e.Key, err)
		}
		var r taskResult
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return fmt.Errorf("export %s: decode %s: %w", id, e.Key, err)
		}
		if err := fn(idx, &r); err != nil {
			return err
		}
	}
	return it.Err()
}

// exportStatus is the status file an export ends with, fixed once.
type exportStatus struct {
	Name    string `json:"name"`
	Success bool   `json:"success"`
}

// fixStatus stores st as the export's status unless one is stored, and
// returns the stored one.
func (h *Handler) fixStatus(ctx context.Context, id store.JobID, st exportStatus) (exportStatus, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return st, err
	}
	err = h.kv.SetIf(ctx, partition(id), statusKey, raw, nil)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, kv.ErrPredicateFailed) {
		return st, fmt.Errorf("export %s: fix status: %w", id, err)
	}
	raw, err = h.kv.Get(ctx, partition(id), statusKey)
	if err != nil {
		return st, fmt.Errorf("export %s: load status: %w", id, err)
	}
	var stored exportStatus
	if err := json.Unmarshal(raw, &stored); err != nil {
		return st, fmt.Errorf("export %s: decode status: %w", id, err)
	}
	return stored, nil
}
