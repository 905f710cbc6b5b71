package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
	"github.com/lakeq/lakeq/store/block"
)

// exportFlags are the flags of `lakeq export`.
type exportFlags struct {
	prevCommit  string
	rounds      []string
	parallelism int
	wait        bool
	poll        time.Duration
}

// newExportCmd builds `lakeq export`.
func newExportCmd(g *globals) *cobra.Command {
	f := &exportFlags{}
	cmd := &cobra.Command{
		Use:   "export lakeq://REPOSITORY/REF DESTINATION",
		Short: "Copy a branch, tag or commit out to an object-store prefix",
		Long: `Export the objects of a commit to DESTINATION (s3://bucket/prefix/ on the
server's S3 endpoint, local://bucket/prefix/ in its local blockstore, or
local:///absolute/path/ under a directory the server allows), as plain
objects that tools outside lakeq read. A branch exports its head's committed
objects; the reference is pinned to its commit when the export is queued.

With --prev-commit only the difference from that commit is applied: added
and changed objects are copied, removed ones deleted at the destination.

Objects are copied in rounds: by default Spark's _SUCCESS markers go last,
after every other object; --round PATTERN=N replaces that rule (repeatable;
the first matching pattern wins, unmatched objects are in round 0). A round
with a failed object stops every later round.

When the export ends it writes EXPORT_<commit>_<UTC time>_SUCCESS (or
…_FAILURE, listing each failed object) at the destination's root.

Without --wait the command prints the export's job id and returns; with it,
it follows the export with a progress bar, and Ctrl-C cancels the export,
waits for it to stop (a second Ctrl-C stops waiting) and exits with status 1.`,
		Example: `  lakeq export lakeq://example/main s3://published/example/ --wait
  lakeq export lakeq://example/main s3://published/example/ --prev-commit 4f1c2e… --wait
  lakeq export lakeq://example/v1.2 local:///srv/exports/v1.2/ --round '\.json$=1'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd, g, f, args[0], args[1])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.prevCommit, "prev-commit", "", "export only the difference from this commit (diff mode)")
	fl.StringArrayVar(&f.rounds, "round", nil, "copy objects matching PATTERN in round N, as PATTERN=N (repeatable; replaces the default _SUCCESS-last rule)")
	fl.IntVar(&f.parallelism, "parallelism", 0, "copies one worker runs at a time for this export (default: the server's, 32)")
	fl.BoolVar(&f.wait, "wait", false, "follow the export with a progress bar until it ends")
	fl.DurationVar(&f.poll, "poll-interval", time.Second, "with --wait, how often to ask for the export's state")
	cmd.AddCommand(newExportStatusCmd(g), newExportRuleCmd(g))
	return cmd
}

// parseRounds parses PATTERN=N flags.
func parseRounds(flags []string) ([]client.ExportRound, error) {
	var out []client.ExportRound
	for _, f := range flags {
		i := strings.LastIndexByte(f, '=')
		if i <= 0 {
			return nil, fmt.Errorf("--round %q: want PATTERN=N", f)
		}
		n, err := strconv.Atoi(f[i+1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--round %q: the round must be a number from 0", f)
		}
		out = append(out, client.ExportRound{Pattern: f[:i], Round: n})
	}
	return out, nil
}

func runExport(cmd *cobra.Command, g *globals, f *exportFlags, src, dest string) error {
	u, err := parseURIArg(src, uriRef)
	if err != nil {
		return err
	}
	if _, err := block.ParseURI(dest); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	rounds, err := parseRounds(f.rounds)
	if err != nil {
		return err
	}
	c, err := g.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	id, err := c.ExportStart(ctx, string(u.Repo), client.ExportCreation{
		Ref: string(u.Ref), PrevCommitID: f.prevCommit, Destination: dest, Rounds: rounds, Parallelism: f.parallelism,
	})
	if err != nil {
		return err
	}
	p := newPrinter(cmd.OutOrStdout(), g.output)
	if !f.wait {
		return p.object(map[string]string{"id": id}, func(w io.Writer) {
			fmt.Fprintf(w, "Export %s submitted\n", id)
			fmt.Fprintf(w, "Follow it with: lakeq export status %s\n", id)
		})
	}
	stderr := cmd.ErrOrStderr()
	j, interrupted, err := followExport(ctx, c, id, followOptions{
		poll: f.poll, stderr: stderr, showBar: g.output == outputTable, cancel: true,
	})
	if err != nil {
		return err
	}
	if err := printExport(p, j); err != nil || !interrupted {
		return err
	}
	fmt.Fprintf(stderr, "Export %s completed: it had finished, or begun committing, before it could be canceled\n", id)
	return errSilent
}

// followExport shows the export's progress until it ends and returns its
// final state. With o.cancel, the end of ctx — main ends it on Ctrl-C or
// SIGTERM — cancels the export, and the wait goes on until the export has
// stopped (or a second Ctrl-C); interrupted then reports that it was asked
// to stop. Without o.cancel, the end of ctx only ends the wait.
func followExport(ctx context.Context, c *client.Client, id string, o followOptions) (j *client.Job, interrupted bool, err error) {
	stderr := &lockedWriter{w: o.stderr}
	wctx, release, w := startWait(ctx, o, stderr, "export "+id, func(ctx context.Context) error {
		return c.CancelJob(ctx, id)
	})
	defer release()

	var bar *progressbar.ProgressBar
	newBar := func(total int64) *progressbar.ProgressBar {
		return progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetVisibility(o.showBar),
			progressbar.OptionSetDescription("exporting"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("objects"),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(total > 0),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	defer func() {
		if bar != nil {
			_ = bar.Exit()
		}
	}()
	j, err = pollExport(wctx, c, id, o.poll, func(j *client.Job) {
		if bar == nil || (j.Progress.Total > 0 && bar.GetMax64() != j.Progress.Total) {
			if bar != nil {
				_ = bar.Exit()
			}
			total := j.Progress.Total
			if total == 0 {
				total = -1 // diff mode: the number of changes is not known ahead
			}
			bar = newBar(total)
		}
		_ = bar.Set64(j.Progress.Done)
	})
	if interrupted, err = w.end(ctx, "export "+id, err); err != nil {
		if bar != nil {
			_ = bar.Clear()
		}
		return nil, interrupted, err
	}
	_ = bar.Finish()
	return j, interrupted, nil
}

// pollExport asks for the export's state every poll, showing each with
// show, until it ends, and returns its final state.
func pollExport(ctx context.Context, c *client.Client, id string, poll time.Duration, show func(*client.Job)) (*client.Job, error) {
	for {
		j, err := c.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		show(j)
		if j.Finished() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// printExport prints an export's state; a failed or canceled export is an
// error.
func printExport(p *printer, j *client.Job) error {
	var res *client.ExportResult
	if j.State == client.JobCompleted {
		var err error
		if res, err = client.ExportResultOf(j); err != nil {
			return fmt.Errorf("export %s: result: %w", j.ID, err)
		}
	}
	err := p.object(j, func(w io.Writer) {
		switch {
		case res != nil:
			fmt.Fprintf(w, "Exported commit %s to %s (export %s)\n", res.CommitID, res.Destination, j.ID)
			fmt.Fprintf(w, "Copied %d objects (%s)", res.Copied, formatSize(res.Bytes))
			if res.Deleted > 0 {
				fmt.Fprintf(w, ", deleted %d", res.Deleted)
			}
			fmt.Fprintf(w, "\nStatus file: %s\n", res.StatusFile)
		case j.Finished():
			fmt.Fprintf(w, "Export %s %s: %s\n", j.ID, strings.ToLower(j.State), j.Error)
		default:
			fmt.Fprintf(w, "Export %s is %s: %d objects so far\n", j.ID, strings.ToLower(j.State), j.Progress.Done)
		}
	})
	if err != nil {
		return err
	}
	if j.State == client.JobFailed || j.State == client.JobCanceled {
		return errSilent
	}
	return nil
}

// newExportStatusCmd builds `lakeq export status`.
func newExportStatusCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show an export's state (with --wait, follow it to its end)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			id := strings.TrimSpace(args[0])
			var j *client.Job
			if wait {
				j, _, err = followExport(cmd.Context(), c, id, followOptions{
					poll: time.Second, stderr: cmd.ErrOrStderr(), showBar: g.output == outputTable,
				})
			} else {
				j, err = c.GetJob(cmd.Context(), id)
			}
			if err != nil {
				return err
			}
			if j.Kind != "export" {
				return fmt.Errorf("job %s is an %s job, not an export", id, j.Kind)
			}
			return printExport(newPrinter(cmd.OutOrStdout(), g.output), j)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the export until it ends (Ctrl-C stops following; the export goes on)")
	return cmd
}

// newExportRuleCmd builds `lakeq export rule`.
func newExportRuleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rule",
		Short: "Export every new commit of a branch continuously",
		Long: `A branch's export rule makes lakeq export each new commit (or merge) of the
branch to the rule's destination, as a diff from the commit exported before
it, one at a time in commit order. A new rule starts at the branch's
current head: export the branch in full first if the destination should
hold it.`,
		Args: cobra.NoArgs,
	}
	var (
		rounds      []string
		parallelism int
	)
	set := &cobra.Command{
		Use:     "set lakeq://REPOSITORY/BRANCH DESTINATION",
		Short:   "Set (or replace) a branch's continuous-export rule",
		Example: `  lakeq export rule set lakeq://example/main s3://published/example/`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			if _, err := block.ParseURI(args[1]); err != nil {
				return fmt.Errorf("destination: %w", err)
			}
			rs, err := parseRounds(rounds)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			r, err := c.SetExportRule(cmd.Context(), string(u.Repo), string(u.Ref), client.ExportRuleCreation{Destination: args[1], Rounds: rs, Parallelism: parallelism})
			if err != nil {
				return err
			}
			return printExportRule(newPrinter(cmd.OutOrStdout(), g.output), r)
		},
	}
	set.Flags().StringArrayVar(&rounds, "round", nil, "copy objects matching PATTERN in round N, as PATTERN=N (repeatable)")
	set.Flags().IntVar(&parallelism, "parallelism", 0, "copies one worker runs at a time for each export")
	get := &cobra.Command{
		Use:   "get lakeq://REPOSITORY/BRANCH",
		Short: "Show a branch's continuous-export rule and how far it got",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			r, err := c.GetExportRule(cmd.Context(), string(u.Repo), string(u.Ref))
			if err != nil {
				if client.IsStatus(err, 404) {
					return fmt.Errorf("%s has no export rule (or does not exist)", u)
				}
				return err
			}
			return printExportRule(newPrinter(cmd.OutOrStdout(), g.output), r)
		},
	}
	del := &cobra.Command{
		Use:   "delete lakeq://REPOSITORY/BRANCH",
		Short: "Stop exporting a branch continuously",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteExportRule(cmd.Context(), string(u.Repo), string(u.Ref)); err != nil {
				if client.IsStatus(err, 404) {
					return errors.New("the branch has no export rule")
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Export rule of %s deleted\n", u)
			return nil
		},
	}
	cmd.AddCommand(set, get, del)
	return cmd
}

func printExportRule(p *printer, r *client.ExportRule) error {
	return p.object(r, func(w io.Writer) {
		fmt.Fprintf(w, "Branch:        lakeq://%s/%s\n", r.Repository, r.Branch)
		fmt.Fprintf(w, "Destination:   %s\n", r.Destination)
		fmt.Fprintf(w, "Last exported: %s\n", r.LastExported)
		if r.PendingJob != "" {
			fmt.Fprintf(w, "Exporting:     %s (export %s)\n", r.Pending, r.PendingJob)
		}
		if r.LastError != "" {
			fmt.Fprintf(w, "Last error:    %s (%d failures)\n", r.LastError, r.Failures)
		}
	})
}
