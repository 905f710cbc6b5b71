package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
	"github.com/lakeq/lakeq/store/block"
)

// importFlags are the flags of `lakeq import`.
type importFlags struct {
	from    []string
	to      string
	message string
	meta    []string
	force   bool
	wait    bool
	poll    time.Duration
}

// newImportCmd builds `lakeq import`.
func newImportCmd(g *globals) *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:   "import --from s3://BUCKET/PREFIX/ --to lakeq://REPOSITORY/BRANCH/[PATH/]",
		Short: "Import objects from external storage into a branch, without copying them",
		Long: `Link the objects under one or more external prefixes, or single objects,
into a branch with one commit. No object data is copied: the branch's
entries point at the source objects, which must stay where they are.
Everything that was under the destination prefix on the branch is replaced
by the import.

Sources are s3://bucket/key URIs of the server's S3 endpoint, or
local:///absolute/path under a directory the server allows (--import-allow).
A source that ends in "/" is a prefix: its objects land under --to's path.
Any other source is one object: it lands at --to's path, or, when that path
ends in "/", under it with the object's base name. Several --from flags
merge their objects under the same destination.

Without --wait the command prints the import's id and returns; with it, it
follows the import with a progress bar until the commit, and Ctrl-C cancels
the import, waits for it to stop (a second Ctrl-C stops waiting) and exits
with status 1.`,
		Example: `  lakeq import --from s3://raw-data/events/2026/ --to lakeq://example/main/events/ --wait
  lakeq import --from s3://raw-data/users.parquet --to lakeq://example/main/tables/ -m "nightly" --meta source=crm
  lakeq import --from s3://raw-data/users.parquet --to lakeq://example/main/tables/crm_users.parquet`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImport(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.from, "from", nil, "source, a prefix (s3://bucket/prefix/ or local:///path/) or one object (s3://bucket/key or local:///path/file) (repeatable)")
	fl.StringVar(&f.to, "to", "", "destination, lakeq://repository/branch/[path/]; an object source lands at the path, or under it when it ends in \"/\"")
	fl.StringVarP(&f.message, "message", "m", "", "commit message (default \"Import objects\")")
	fl.StringArrayVar(&f.meta, "meta", nil, "commit metadata as key=value (repeatable)")
	fl.BoolVar(&f.force, "force", false, "import even if the branch has uncommitted changes (they stay uncommitted)")
	fl.BoolVar(&f.wait, "wait", false, "follow the import with a progress bar until it commits")
	fl.DurationVar(&f.poll, "poll-interval", time.Second, "with --wait, how often to ask for the import's state when the server streams no events")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	cmd.AddCommand(newImportStatusCmd(g), newImportCancelCmd(g))
	return cmd
}

// importLocation returns the import source that --from names, to land at
// dest on the branch. A source ending in "/" (or a whole bucket) is a
// prefix, whose objects land under dest as lakectl imports them; any other
// source is one object, which lands at dest, or — when dest is empty or
// ends in "/" — at dest followed by the object's base name.
func importLocation(from, dest string) (client.ImportLocation, error) {
	u, err := block.ParseURI(from)
	if err != nil {
		return client.ImportLocation{}, err
	}
	if u.Key == "" || strings.HasSuffix(u.Key, "/") {
		return client.ImportLocation{Type: client.ImportCommonPrefix, Path: from, Destination: dest}, nil
	}
	if dest == "" || strings.HasSuffix(dest, "/") {
		dest += path.Base(u.Key)
	}
	return client.ImportLocation{Type: client.ImportObject, Path: from, Destination: dest}, nil
}

func runImport(cmd *cobra.Command, g *globals, f *importFlags) error {
	dst, err := parseURIArg(f.to, uriRefPath)
	if err != nil {
		return err
	}
	md, err := parseMeta(f.meta)
	if err != nil {
		return err
	}
	in := client.ImportCreation{
		Commit: client.ImportCommit{Message: f.message, Metadata: md},
		Force:  f.force,
	}
	for _, from := range f.from {
		loc, err := importLocation(from, dst.Path)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		in.Paths = append(in.Paths, loc)
	}
	c, err := g.client(cmd)
	if err != nil {
		return err
	}
	repo, branch := string(dst.Repo), string(dst.Ref)
	ctx := cmd.Context()
	id, err := c.ImportStart(ctx, repo, branch, in)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	p := newPrinter(out, g.output)
	if !f.wait {
		return p.object(map[string]string{"id": id}, func(w io.Writer) {
			fmt.Fprintf(w, "Import %s submitted\n", id)
			fmt.Fprintf(w, "Follow it with: lakeq import status %s %s\n", dst, id)
		})
	}
	stderr := cmd.ErrOrStderr()
	st, interrupted, err := followImport(ctx, c, repo, branch, id, followOptions{
		poll: f.poll, stderr: stderr, showBar: g.output == outputTable, cancel: true,
	})
	if err != nil {
		return err
	}
	if err := printImportStatus(p, id, st); err != nil || !interrupted {
		return err
	}
	fmt.Fprintf(stderr, "Import %s completed: it had finished, or begun committing, before it could be canceled\n", id)
	return errSilent
}

// followImport shows the import's progress, fed by the job's events, until
// it ends, and returns its final state. A server that streams no events is
// polled instead. With o.cancel, the end of ctx — main ends it on Ctrl-C or
// SIGTERM — cancels the import, and the wait goes on until the import has
// stopped (or a second Ctrl-C); interrupted then reports that it was asked
// to stop. Without o.cancel, the end of ctx only ends the wait.
func followImport(ctx context.Context, c *client.Client, repo, branch, id string, o followOptions) (st *client.ImportStatus, interrupted bool, err error) {
	stderr := &lockedWriter{w: o.stderr}
	wctx, release, w := startWait(ctx, o, stderr, "import "+id, func(ctx context.Context) error {
		// The jobs API announces the cancellation to the events followed
		// below at once; a server without it takes lakeFS's import cancel.
		err := c.CancelJob(ctx, id)
		if noJobsAPI(err) {
			err = c.ImportCancel(ctx, repo, branch, id)
		}
		return err
	})
	defer release()

	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetVisibility(o.showBar),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("objects"),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	defer bar.Exit()

	_, err = c.FollowJob(wctx, id, func(ev client.JobEvent) error {
		_ = bar.Set64(ev.Progress.Done)
		return nil
	})
	if noJobsAPI(err) {
		err = pollImport(wctx, c, repo, branch, id, o.poll, bar)
	}
	if interrupted, err = w.end(ctx, "import "+id, err); err != nil {
		_ = bar.Clear()
		return nil, interrupted, err
	}
	if st, err = c.ImportStatus(wctx, repo, branch, id); err != nil {
		return nil, interrupted, err
	}
	_ = bar.Set64(st.IngestedObjects)
	_ = bar.Finish()
	return st, interrupted, nil
}

// noJobsAPI reports whether err is the answer of a server without lakeq's
// jobs API (or with its jobs not ready), to use lakeFS's import API alone.
func noJobsAPI(err error) bool {
	return client.IsStatus(err, http.StatusNotFound) || client.IsStatus(err, http.StatusServiceUnavailable) || client.IsStatus(err, http.StatusNotImplemented)
}

// pollImport asks for the import's state every poll until it ends.
func pollImport(ctx context.Context, c *client.Client, repo, branch, id string, poll time.Duration, bar *progressbar.ProgressBar) error {
	for {
		st, err := c.ImportStatus(ctx, repo, branch, id)
		if err != nil {
			return err
		}
		_ = bar.Set64(st.IngestedObjects)
		if st.Completed || st.Error != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// printImportStatus prints an import's final state; a failed or canceled
// import is an error.
func printImportStatus(p *printer, id string, st *client.ImportStatus) error {
	err := p.object(st, func(w io.Writer) {
		switch {
		case st.Completed:
			fmt.Fprintf(w, "Imported %d objects (import %s)\n", st.IngestedObjects, id)
			if st.Commit != nil {
				printCommit(w, *st.Commit)
			}
		case st.Error != nil:
			fmt.Fprintf(w, "Import %s did not complete: %s\n", id, st.Error.Message)
		default:
			fmt.Fprintf(w, "Import %s is running: %d objects so far\n", id, st.IngestedObjects)
		}
	})
	if err != nil {
		return err
	}
	if st.Error != nil {
		return errSilent
	}
	return nil
}

// newImportStatusCmd builds `lakeq import status`.
func newImportStatusCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "status lakeq://REPOSITORY/BRANCH ID",
		Short: "Show an import's state",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRefPath)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			repo, branch, id := string(u.Repo), string(u.Ref), strings.TrimSpace(args[1])
			var st *client.ImportStatus
			if wait {
				st, _, err = followImport(cmd.Context(), c, repo, branch, id, followOptions{
					poll: time.Second, stderr: cmd.ErrOrStderr(), showBar: g.output == outputTable,
				})
			} else {
				st, err = c.ImportStatus(cmd.Context(), repo, branch, id)
			}
			if err != nil {
				return err
			}
			return printImportStatus(newPrinter(cmd.OutOrStdout(), g.output), id, st)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the import until it ends (Ctrl-C stops following; the import goes on)")
	return cmd
}

// newImportCancelCmd builds `lakeq import cancel`.
func newImportCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel lakeq://REPOSITORY/BRANCH ID",
		Short: "Cancel a running import; it commits nothing",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRefPath)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			if err := c.ImportCancel(cmd.Context(), string(u.Repo), string(u.Ref), args[1]); err != nil {
				var ae *client.APIError
				if errors.As(err, &ae) && ae.StatusCode == http.StatusConflict {
					// Finished already, or committing its result.
					return fmt.Errorf("the import can no longer be canceled: %s", ae.Message)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Import %s canceled\n", args[1])
			return nil
		},
	}
}
