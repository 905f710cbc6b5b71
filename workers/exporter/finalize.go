package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/workers"
)

// checkpoint is an export's job checkpoint: the round each wave runs.
type checkpoint struct {
	// Rounds[w] is the round of wave w.
	Rounds []int `json:"rounds"`
}

func loadCheckpoint(j *jobs.Job) (checkpoint, error) {
	cp := checkpoint{Rounds: []int{0}}
	if len(j.Checkpoint) == 0 {
		return cp, nil
	}
	if err := json.Unmarshal(j.Checkpoint, &cp); err != nil || len(cp.Rounds) == 0 {
		return cp, workers.Permanent(fmt.Errorf("export checkpoint %s: %v", j.Checkpoint, err))
	}
	return cp, nil
}

// Run plans the export and fans out round 0: one task per span. An export
// with nothing to do (an empty commit, or no difference) is finalized at
// once.
func (h *Handler) Run(ctx context.Context, rt *workers.Run) error {
	j := rt.Job()
	x, err := h.load(ctx, j)
	if err != nil {
		return err
	}
	if rt.Canceled(ctx) {
		return workers.ErrCanceled
	}
	spans, total, err := h.spans(ctx, x)
	if err != nil {
		return err
	}
	rt.Progress(ctx, func(p *jobs.Progress) { p.Total = total })
	rt.Logger().InfoContext(ctx, "export planned", "spans", len(spans), "objects", total,
		"commit", x.commit.ID, "prev_commit", x.req.PrevCommitID, "destination", x.dstURI.String())
	if len(spans) == 0 {
		return h.finish(ctx, rt, x, 0, checkpoint{Rounds: []int{0}})
	}
	return rt.FanOut(ctx, waveTasks(0, 0, spans, nil))
}

// waveTasks returns the tasks of wave, round round: one per span, or per
// span listed in only when it is not nil.
func waveTasks(wave, round int, spans []span, only []int) []workers.Task {
	var tasks []workers.Task
	add := func(i int) {
		payload, _ := json.Marshal(taskPayload{Wave: wave, Round: round, Index: i, Span: spans[i]}) // cannot fail
		tasks = append(tasks, workers.Task{ID: taskID(wave, round, i), Payload: payload})
	}
	if only == nil {
		for i := range spans {
			add(i)
		}
	} else {
		for _, i := range only {
			add(i)
		}
	}
	return tasks
}

// Finalize runs when every task of a wave is done: it starts the next
// round (over the spans that hold objects of it) when the wave had no
// failure, else — or after the last round — it ends the export with its
// status file.
func (h *Handler) Finalize(ctx context.Context, rt *workers.Run) error {
	j := rt.Job()
	x, err := h.load(ctx, j)
	if err != nil {
		return err
	}
	cp, err := loadCheckpoint(j)
	if err != nil {
		return err
	}
	wave := rt.Wave()
	if wave >= len(cp.Rounds) {
		return workers.Permanent(fmt.Errorf("export: finalize of wave %d, but the checkpoint knows %d waves", wave, len(cp.Rounds)))
	}
	spans, _, err := h.spans(ctx, x)
	if err != nil {
		return err
	}
	// The rounds after this one, by span, as the first wave found them.
	later := make(map[int][]int)
	n0 := 0
	if err := h.eachResult(ctx, j.ID, 0, func(idx int, r *taskResult) error {
		n0++
		for _, round := range r.Later {
			later[round] = append(later[round], idx)
		}
		return nil
	}); err != nil {
		return err
	}
	if n0 != len(spans) {
		return fmt.Errorf("export %s: %d of %d results of the first round are stored", j.ID, n0, len(spans))
	}
	var failed int64
	if err := h.eachResult(ctx, j.ID, wave, func(_ int, r *taskResult) error {
		failed += r.Failed
		return nil
	}); err != nil {
		return err
	}
	next := nextRound(later, cp.Rounds[wave])
	if failed > 0 || next < 0 {
		return h.finish(ctx, rt, x, wave, cp)
	}
	if rt.Canceled(ctx) {
		return workers.ErrCanceled
	}
	cp.Rounds = append(cp.Rounds[:wave+1], next)
	if err := rt.Checkpoint(ctx, cp); err != nil {
		return err
	}
	only := later[next]
	slices.Sort(only)
	rt.Logger().InfoContext(ctx, "export round done; next round", "round", cp.Rounds[wave], "next_round", next, "tasks", len(only))
	return rt.FanOut(ctx, waveTasks(wave+1, next, spans, only))
}

// nextRound returns the smallest round after round that has objects, or
// -1.
func nextRound(later map[int][]int, round int) int {
	next := -1
	for r := range later {
		if r > round && (next < 0 || r < next) {
			next = r
		}
	}
	return next
}

// totals adds up the results of waves 0..last.
func (h *Handler) totals(ctx context.Context, x *export, last int, cp checkpoint) (*jobs.ExportResult, error) {
	res := &jobs.ExportResult{
		CommitID: x.commit.ID, PrevCommitID: x.req.PrevCommitID, Destination: x.dstURI.String(),
		Rounds: slices.Clone(cp.Rounds[:last+1]),
	}
	for w := 0; w <= last; w++ {
		if err := h.eachResult(ctx, x.job.ID, w, func(_ int, r *taskResult) error {
			res.Copied += r.Copied
			res.Skipped += r.Skipped
			res.Deleted += r.Deleted
			res.Failed += r.Failed
			res.Bytes += r.Bytes
			return nil
		}); err != nil {
			return nil, err
		}
	}
	res.Success = res.Failed == 0
	return res, nil
}

// EventStatus is the type of the event an export publishes with its
// jobs.ExportResult when it wrote its status file.
const EventStatus = "export_status"

// finish ends the export after wave last: it fixes the status file's name
// in the KV (once: a redelivered finish reuses it), writes the file at the
// destination's root, and completes the job — or fails it, when objects
// failed.
func (h *Handler) finish(ctx context.Context, rt *workers.Run, x *export, last int, cp checkpoint) error {
	res, err := h.totals(ctx, x, last, cp)
	if err != nil {
		return err
	}
	// The last point a cancellation is taken: a job whose status file is
	// written ends as the file says.
	if err := rt.BeginCommit(ctx); err != nil {
		return err
	}
	st, err := h.fixStatus(ctx, x.job.ID, exportStatus{
		Name:    jobs.ExportStatusName(x.commit.ID, h.now(), res.Success),
		Success: res.Success,
	})
	if err != nil {
		return err
	}
	key := x.dst.Key + st.Name
	res.StatusFile = x.dstURI.Join(st.Name).String()
	if st.Success {
		_, err = x.dst.Store.Put(ctx, x.dst.Bucket, key, bytes.NewReader(nil), 0, block.PutOptions{ContentType: "text/plain; charset=utf-8"})
	} else {
		err = h.writeFailures(ctx, x, key, last)
	}
	if err != nil {
		return fmt.Errorf("export %s: write status file %s: %w", x.job.ID, res.StatusFile, err)
	}
	rt.Event(ctx, EventStatus, res)
	rt.Logger().InfoContext(ctx, "export finished", "status_file", res.StatusFile, "copied", res.Copied,
		"skipped", res.Skipped, "deleted", res.Deleted, "failed", res.Failed, "bytes", res.Bytes)
	if !st.Success {
		return workers.Permanent(fmt.Errorf("export: %d objects failed (%d copied, %d deleted); later rounds skipped; see %s",
			res.Failed, res.Copied, res.Deleted, res.StatusFile))
	}
	return rt.Complete(ctx, res)
}

// writeFailures writes the FAILURE status file: one line per failed
// object, "<path>\t<error>\n", in UTF-8, with '\\', tab, newline and
// carriage return in paths and errors escaped as \\, \t, \n and \r. A
// task that listed only some of its failures adds a line starting with
// "#" that counts the others. The file streams: it is never held whole in
// memory.
func (h *Handler) writeFailures(ctx context.Context, x *export, key string, last int) error {
	pr, pw := io.Pipe()
	go func() {
		bw := &lineWriter{w: pw}
		var err error
		for wv := 0; wv <= last && err == nil; wv++ {
			err = h.eachResult(ctx, x.job.ID, wv, func(_ int, r *taskResult) error {
				for _, f := range r.Failures {
					bw.line(escapeField(f.Path) + "\t" + escapeField(f.Error))
				}
				if unlisted := r.Failed - int64(len(r.Failures)); unlisted > 0 {
					bw.line(fmt.Sprintf("# %d more failed objects of this span are not listed", unlisted))
				}
				return bw.err
			})
		}
		pw.CloseWithError(err)
	}()
	_, err := x.dst.Store.Put(ctx, x.dst.Bucket, key, pr, -1, block.PutOptions{ContentType: "text/plain; charset=utf-8"})
	pr.CloseWithError(err)
	return err
}

type lineWriter struct {
	w   io.Writer
	err error
}

func (l *lineWriter) line(s string) {
	if l.err == nil {
		_, l.err = io.WriteString(l.w, s+"\n")
	}
}

var fieldEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)

func escapeField(s string) string { return fieldEscaper.Replace(s) }
