package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
	"github.com/lakeq/lakeq/store"
)

// newFSCmd builds `lakeq fs`.
func newFSCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "fs", Short: "Upload, read, list, stat and remove objects"}
	cmd.AddCommand(newUploadCmd(g), newCatCmd(g), newLsCmd(g), newRmCmd(g), newStatCmd(g))
	return cmd
}

func newUploadCmd(g *globals) *cobra.Command {
	var (
		source      string
		recursive   bool
		contentType string
		parallelism int
	)
	cmd := &cobra.Command{
		Use:   "upload lakeq://REPOSITORY/BRANCH/PATH --source FILE",
		Short: "Upload a file (or stdin with --source -, or a directory with --recursive) to a branch",
		Example: `  lakeq fs upload lakeq://example/main/data/sales.csv --source ./sales.csv
  echo hello | lakeq fs upload lakeq://example/main/hello.txt --source -
  lakeq fs upload lakeq://example/main/raw/ --source ./raw --recursive`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRefPath)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			p := newPrinter(cmd.OutOrStdout(), g.output)
			if recursive {
				return uploadDir(cmd.Context(), c, p, u, source, max(parallelism, 1))
			}
			if err := u.RequirePath(); err != nil {
				return err
			}
			st, err := uploadFile(cmd.Context(), c, u, source, contentType, cmd.InOrStdin())
			if err != nil {
				return err
			}
			return p.object(st, func(w io.Writer) {
				fmt.Fprintf(w, "Path:\t%s\n", st.Path)
				fmt.Fprintf(w, "Size:\t%d bytes\n", st.SizeBytes)
				fmt.Fprintf(w, "Checksum:\t%s\n", st.Checksum)
			})
		},
	}
	cmd.Flags().StringVarP(&source, "source", "s", "", `local file to upload, "-" for stdin, or a directory with --recursive (required)`)
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "upload every file under the --source directory, below PATH")
	cmd.Flags().StringVar(&contentType, "content-type", "", "object media type (default: guessed from the file name)")
	cmd.Flags().IntVarP(&parallelism, "parallelism", "p", 8, "concurrent uploads with --recursive")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

// uploadFile uploads one file, or stdin for "-", to u.
func uploadFile(ctx context.Context, c *client.Client, u store.URI, source, contentType string, stdin io.Reader) (*client.ObjectStats, error) {
	if contentType == "" {
		contentType = mime.TypeByExtension(path.Ext(u.Path))
	}
	if source == "-" {
		return c.Upload(ctx, string(u.Repo), string(u.Ref), u.Path, stdin, -1, client.UploadOptions{ContentType: contentType})
	}
	f, err := os.Open(source)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory: add --recursive", source)
	}
	return c.Upload(ctx, string(u.Repo), string(u.Ref), u.Path, f, fi.Size(), client.UploadOptions{ContentType: contentType})
}

// uploadDir uploads every regular file under dir to u.Path + its relative
// path, at most parallelism at a time, printing each as it is done.
func uploadDir(ctx context.Context, c *client.Client, p *printer, u store.URI, dir string, parallelism int) error {
	base := u.Path
	if base != "" && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(parallelism)
	results := make(chan *client.ObjectStats, parallelism)
	var count atomic.Int64
	printed := make(chan error, 1)
	go func() {
		printed <- printUploads(p, results)
	}()
	walkErr := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			return err
		}
		dst := u
		dst.Path = base + filepath.ToSlash(rel)
		eg.Go(func() error {
			st, err := uploadFile(ctx, c, dst, name, "", nil)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			count.Add(1)
			results <- st
			return nil
		})
		return nil
	})
	err := eg.Wait()
	close(results)
	perr := <-printed
	if err != nil && errors.Is(walkErr, context.Canceled) {
		walkErr = nil // the walk stopped because an upload failed
	}
	if err := errors.Join(walkErr, err, perr); err != nil {
		return err
	}
	if !p.json {
		fmt.Fprintf(p.w, "Uploaded %d objects to %s\n", count.Load(), u)
	}
	return nil
}

// printUploads prints upload results as they come: a JSON array, or one
// line per object.
func printUploads(p *printer, results <-chan *client.ObjectStats) error {
	seq := func(yield func(client.ObjectStats, error) bool) {
		for st := range results {
			if !yield(*st, nil) {
				break
			}
		}
		for range results { // keep the uploaders unblocked
		}
	}
	if p.json {
		return jsonArray(p.w, seq)
	}
	for st := range seq {
		fmt.Fprintf(p.w, "%s\t%d bytes\n", st.Path, st.SizeBytes)
	}
	return nil
}

func newCatCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "cat lakeq://REPOSITORY/REF/PATH",
		Short:   "Write an object's content to stdout",
		Example: `  lakeq fs cat lakeq://example/main/data/sales.csv`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriPath)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			rc, err := c.Get(cmd.Context(), string(u.Repo), string(u.Ref), u.Path)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(cmd.OutOrStdout(), rc)
			return err
		},
	}
}

func newLsCmd(g *globals) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "ls lakeq://REPOSITORY/REF[/PREFIX]",
		Short: "List objects and directories under a prefix",
		Example: `  lakeq fs ls lakeq://example/main/
  lakeq fs ls lakeq://example/main/data/ --recursive`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRefPath)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			opts := client.ListOptions{Prefix: u.Path, Delimiter: "/", PageSize: 1000}
			if recursive {
				opts.Delimiter = ""
			}
			return list(newPrinter(cmd.OutOrStdout(), g.output),
				c.List(cmd.Context(), string(u.Repo), string(u.Ref), opts), nil,
				func(o client.ObjectStats) []string {
					if o.PathType == client.PathTypePrefix {
						return []string{"dir", "", "", o.Path}
					}
					return []string{"object", formatTime(o.Mtime), formatSize(o.SizeBytes), o.Path}
				})
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every object under the prefix, not one level")
	return cmd
}

func newRmCmd(g *globals) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "rm lakeq://REPOSITORY/BRANCH/PATH",
		Short: "Remove an object (or, with --recursive, every object under a prefix) from a branch",
		Example: `  lakeq fs rm lakeq://example/dev/data/old.csv
  lakeq fs rm lakeq://example/dev/tmp/ --recursive`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriPath)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			ctx, repo, branch := cmd.Context(), string(u.Repo), string(u.Ref)
			if !recursive {
				if err := c.Delete(ctx, repo, branch, u.Path); err != nil {
					return err
				}
				return g.done(cmd, "Removed "+u.String(), map[string]any{"removed": 1})
			}
			n, err := removeAll(ctx, c, repo, branch, u.Path)
			if err != nil {
				return err
			}
			return g.done(cmd, fmt.Sprintf("Removed %d objects under %s", n, u), map[string]any{"removed": n})
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove every object under the path as a prefix")
	return cmd
}

// removeAll deletes every object under prefix on branch in batches of
// client.MaxDeleteBatch, listing the branch's head as it goes.
func removeAll(ctx context.Context, c *client.Client, repo, branch, prefix string) (int, error) {
	batch := make([]string, 0, client.MaxDeleteBatch)
	total := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		failed, err := c.DeleteMany(ctx, repo, branch, batch)
		if err != nil {
			return err
		}
		if len(failed) > 0 {
			msgs := make([]string, 0, len(failed))
			for _, f := range failed {
				msgs = append(msgs, fmt.Sprintf("%s: %s", f.Path, f.Message))
			}
			return fmt.Errorf("%d of %d objects not removed: %s", len(failed), len(batch), strings.Join(msgs, "; "))
		}
		total += len(batch)
		batch = batch[:0]
		return nil
	}
	// Listing what is being deleted from the same branch is safe page by
	// page: each page starts after the last path of the previous one.
	for o, err := range c.List(ctx, repo, branch, client.ListOptions{Prefix: prefix, PageSize: client.MaxDeleteBatch}) {
		if err != nil {
			return total, err
		}
		batch = append(batch, o.Path)
		if len(batch) == client.MaxDeleteBatch {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	return total, flush()
}

func newStatCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stat lakeq://REPOSITORY/REF/PATH",
		Short: "Describe an object",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriPath)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			st, err := c.Stat(cmd.Context(), string(u.Repo), string(u.Ref), u.Path)
			if err != nil {
				return err
			}
			return newPrinter(cmd.OutOrStdout(), g.output).object(st, func(w io.Writer) {
				fmt.Fprintf(w, "Path:\t%s\n", st.Path)
				fmt.Fprintf(w, "Size:\t%d bytes\n", st.SizeBytes)
				fmt.Fprintf(w, "Modified:\t%s\n", formatTime(st.Mtime))
				fmt.Fprintf(w, "Checksum:\t%s\n", st.Checksum)
				fmt.Fprintf(w, "Content type:\t%s\n", st.ContentType)
				fmt.Fprintf(w, "Physical address:\t%s\n", st.PhysicalAddress)
				for k, v := range st.Metadata {
					fmt.Fprintf(w, "Metadata:\t%s = %s\n", k, v)
				}
			})
		},
	}
}
