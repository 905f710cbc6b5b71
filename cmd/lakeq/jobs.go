package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// newJobsCmd builds `lakeq jobs`.
func newJobsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List, inspect, follow and cancel asynchronous jobs (import, export, GC, ingestion)",
	}
	cmd.AddCommand(newJobsListCmd(g), newJobsShowCmd(g), newJobsWatchCmd(g), newJobsCancelCmd(g))
	return cmd
}

// newJobsListCmd builds `lakeq jobs list`.
func newJobsListCmd(g *globals) *cobra.Command {
	var f client.JobFilter
	var after string
	var pageSize int
	cmd := &cobra.Command{
		Use:   "list lakeq://REPOSITORY",
		Short: "List a repository's jobs, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRepo)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			f.State = strings.ToUpper(f.State)
			seq := c.ListJobs(cmd.Context(), string(u.Repo), f, client.ListOptions{After: after, PageSize: pageSize})
			return list(newPrinter(cmd.OutOrStdout(), g.output), seq,
				[]string{"ID", "KIND", "STATE", "PROGRESS", "CREATED", "FINISHED"},
				func(j client.Job) []string {
					finished := "-"
					if j.FinishedAt != nil {
						finished = formatTime(j.FinishedAt.Unix())
					}
					return []string{j.ID, j.Kind, j.State, formatProgress(j.Progress), formatTime(j.CreatedAt.Unix()), finished}
				})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Kind, "kind", "", "only jobs of this kind: import, export, gc or ingest")
	fl.StringVar(&f.State, "state", "", "only jobs in this state: SUBMITTED, IN_PROGRESS, COMPLETED, FAILED or CANCELED")
	fl.StringVar(&after, "after", "", "start after this job id")
	fl.IntVar(&pageSize, "amount", 0, "jobs per request (the listing pages through all of them)")
	return cmd
}

// newJobsShowCmd builds `lakeq jobs show`.
func newJobsShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a job's state, progress, result or error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			j, err := c.GetJob(cmd.Context(), strings.TrimSpace(args[0]))
			if err != nil {
				return err
			}
			return newPrinter(cmd.OutOrStdout(), g.output).object(j, func(w io.Writer) { printJob(w, j) })
		},
	}
}

// printJob writes a job as "field: value" lines.
func printJob(w io.Writer, j *client.Job) {
	fmt.Fprintf(w, "ID:\t%s\n", j.ID)
	fmt.Fprintf(w, "Kind:\t%s\n", j.Kind)
	fmt.Fprintf(w, "Repository:\t%s\n", j.Repository)
	state := j.State
	switch {
	case j.Finished():
	case j.Committing:
		state += " (committing)"
	case j.CancelRequested:
		state += " (cancel requested)"
	}
	fmt.Fprintf(w, "State:\t%s\n", state)
	fmt.Fprintf(w, "Progress:\t%s\n", formatProgress(j.Progress))
	fmt.Fprintf(w, "Attempts:\t%d\n", j.Attempts)
	if j.Worker != "" {
		fmt.Fprintf(w, "Worker:\t%s\n", j.Worker)
	}
	fmt.Fprintf(w, "Created:\t%s\n", formatTime(j.CreatedAt.Unix()))
	if j.StartedAt != nil {
		fmt.Fprintf(w, "Started:\t%s\n", formatTime(j.StartedAt.Unix()))
	}
	if j.FinishedAt != nil {
		fmt.Fprintf(w, "Finished:\t%s\n", formatTime(j.FinishedAt.Unix()))
	}
	if j.Error != "" {
		fmt.Fprintf(w, "Error:\t%s\n", j.Error)
	}
	if len(j.Result) > 0 {
		fmt.Fprintf(w, "Result:\t%s\n", j.Result)
	}
	if len(j.Request) > 0 {
		fmt.Fprintf(w, "Request:\t%s\n", j.Request)
	}
}

// formatProgress summarizes a job's counters: "12/40, 3.1 MiB, tasks 2/8".
func formatProgress(p client.JobProgress) string {
	s := fmt.Sprintf("%d", p.Done)
	if p.Total > 0 {
		s += fmt.Sprintf("/%d", p.Total)
	}
	if p.Bytes > 0 {
		s += ", " + formatSize(p.Bytes)
	}
	if p.Failed > 0 {
		s += fmt.Sprintf(", %d failed", p.Failed)
	}
	if p.Tasks > 0 {
		s += fmt.Sprintf(", tasks %d/%d", p.TasksOK, p.Tasks)
	}
	return s
}

// newJobsWatchCmd builds `lakeq jobs watch`.
func newJobsWatchCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a job's events until it ends",
		Long: `Follow a job's events from its first one until it ends, with a live
progress line (on a terminal) and a line per lifecycle event. With
--output json every event is printed as one JSON line instead.

The command exits with status 0 when the job completed, and 1 when it
failed or was canceled.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			id := strings.TrimSpace(args[0])
			out := cmd.OutOrStdout()
			var r *eventRenderer
			if g.output == outputJSON {
				r = &eventRenderer{w: out, json: true}
			} else {
				r = &eventRenderer{w: out, live: isTerminal(out)}
			}
			final, err := c.FollowJob(cmd.Context(), id, r.render)
			r.endLine()
			if err != nil {
				return err
			}
			if final.Type != "completed" {
				if final.Error != "" {
					return fmt.Errorf("job %s %s: %s", id, final.State, final.Error)
				}
				return fmt.Errorf("job %s %s", id, final.State)
			}
			return nil
		},
	}
}

// eventRenderer prints a job's events as they come: JSON lines, or lines
// for lifecycle events and a progress line redrawn in place on a
// terminal.
type eventRenderer struct {
	w        io.Writer
	json     bool
	live     bool // redraw the progress line in place
	lineOpen bool // a progress line is drawn and not ended
	lastDraw time.Time
}

// progressRedraw bounds how often a progress line is printed when it
// cannot be redrawn in place.
const progressRedraw = 5 * time.Second

// render prints one event.
func (r *eventRenderer) render(ev client.JobEvent) error {
	if r.json {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(r.w, "%s\n", b)
		return err
	}
	switch ev.Type {
	case "progress", "task_done":
		line := fmt.Sprintf("%s %s: %s", ev.Kind, ev.State, formatProgress(ev.Progress))
		if r.live {
			fmt.Fprintf(r.w, "\r\033[K%s", line)
			r.lineOpen = true
			return nil
		}
		if time.Since(r.lastDraw) >= progressRedraw {
			r.lastDraw = time.Now()
			fmt.Fprintf(r.w, "%s  %s\n", ev.Time.Local().Format("15:04:05"), line)
		}
		return nil
	}
	r.endLine()
	msg := ev.Type
	switch {
	case ev.Type == "submitted":
		msg = fmt.Sprintf("submitted %s job %s in %s", ev.Kind, ev.JobID, ev.Repository)
	case ev.Type == "started" && ev.Worker != "":
		msg = "started on " + ev.Worker
	case ev.Type == "retrying":
		msg = "attempt failed, retrying: " + ev.Error
	case ev.Type == "completed":
		msg = "completed: " + formatProgress(ev.Progress)
		if len(ev.Result) > 0 {
			msg += "\nresult: " + string(ev.Result)
		}
	case ev.Type == "failed" || ev.Type == "canceled":
		msg = ev.Type
		if ev.Error != "" {
			msg += ": " + ev.Error
		}
	case len(ev.Data) > 0:
		msg += ": " + string(ev.Data)
	}
	_, err := fmt.Fprintf(r.w, "%s  %s\n", ev.Time.Local().Format("15:04:05"), msg)
	return err
}

// endLine ends a progress line drawn in place.
func (r *eventRenderer) endLine() {
	if r.lineOpen {
		fmt.Fprintln(r.w)
		r.lineOpen = false
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newJobsCancelCmd builds `lakeq jobs cancel`.
func newJobsCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job: a queued one at once, a running one between two units of work, until it begins committing; it commits nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			id := strings.TrimSpace(args[0])
			if err := c.CancelJob(cmd.Context(), id); err != nil {
				var ae *client.APIError
				if errors.As(err, &ae) && ae.StatusCode == http.StatusConflict {
					// Finished already, or committing its result.
					return fmt.Errorf("job %s can no longer be canceled: %s", id, ae.Message)
				}
				return err
			}
			p := newPrinter(cmd.OutOrStdout(), g.output)
			return p.object(map[string]any{"id": id, "cancel_requested": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Cancellation of job %s requested\n", id)
			})
		},
	}
}
