package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// newBranchCmd builds `lakeq branch`.
func newBranchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "branch", Short: "Create, list, delete and reset branches"}

	var source string
	create := &cobra.Command{
		Use:     "create lakeq://REPOSITORY/BRANCH --source lakeq://REPOSITORY/REF",
		Short:   "Create a branch at a ref",
		Example: `  lakeq branch create lakeq://example/dev --source lakeq://example/main`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			src, err := parseURIArg(source, uriRef)
			if err != nil {
				return fmt.Errorf("--source: %w", err)
			}
			if err := sameRepo(u, src); err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			id, err := c.CreateBranch(cmd.Context(), string(u.Repo), string(u.Ref), string(src.Ref))
			if err != nil {
				return err
			}
			out := client.Ref{ID: string(u.Ref), CommitID: id}
			return newPrinter(cmd.OutOrStdout(), g.output).object(out, func(w io.Writer) {
				fmt.Fprintf(w, "Created branch %s from %s\n", u, src)
				if id != "" {
					fmt.Fprintf(w, "Commit:\t%s\n", id)
				}
			})
		},
	}
	create.Flags().StringVarP(&source, "source", "s", "", "the ref the branch starts at, as lakeq://repository/ref (required)")
	_ = create.MarkFlagRequired("source")

	listCmd := &cobra.Command{
		Use:   "list lakeq://REPOSITORY",
		Short: "List a repository's branches",
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
			return list(newPrinter(cmd.OutOrStdout(), g.output),
				c.ListBranches(cmd.Context(), string(u.Repo), client.ListOptions{}),
				[]string{"BRANCH", "COMMIT ID"},
				func(r client.Ref) []string { return []string{r.ID, r.CommitID} })
		},
	}

	del := &cobra.Command{
		Use:   "delete lakeq://REPOSITORY/BRANCH",
		Short: "Delete a branch (not the default one)",
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
			if err := c.DeleteBranch(cmd.Context(), string(u.Repo), string(u.Ref)); err != nil {
				return err
			}
			return g.done(cmd, "Deleted branch "+u.String(), map[string]string{"deleted": u.String()})
		},
	}

	var object, prefix, to string
	reset := &cobra.Command{
		Use:   "reset lakeq://REPOSITORY/BRANCH",
		Short: "Drop a branch's uncommitted changes (all, one object's, or under a prefix), or move it to another ref",
		Example: `  lakeq branch reset lakeq://example/dev
  lakeq branch reset lakeq://example/dev --object data/a.csv
  lakeq branch reset lakeq://example/dev --prefix data/
  lakeq branch reset lakeq://example/dev --to lakeq://example/main~1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			set := 0
			for _, s := range []string{object, prefix, to} {
				if s != "" {
					set++
				}
			}
			if set > 1 {
				return errors.New("give at most one of --object, --prefix and --to")
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			ctx, repo, branch := cmd.Context(), string(u.Repo), string(u.Ref)
			switch {
			case to != "":
				target, err := parseURIArg(to, uriRef)
				if err != nil {
					return fmt.Errorf("--to: %w", err)
				}
				if err := sameRepo(u, target); err != nil {
					return err
				}
				err = c.HardResetBranch(ctx, repo, branch, string(target.Ref))
				if err != nil {
					return err
				}
				return g.done(cmd, fmt.Sprintf("Branch %s now points at %s", u, target), map[string]string{"branch": u.String(), "ref": target.String()})
			case object != "":
				err = c.ResetBranch(ctx, repo, branch, client.ResetCreation{Type: client.ResetObject, Path: object})
			case prefix != "":
				err = c.ResetBranch(ctx, repo, branch, client.ResetCreation{Type: client.ResetPrefix, Path: prefix})
			default:
				err = c.ResetBranch(ctx, repo, branch, client.ResetCreation{Type: client.ResetAll})
			}
			if err != nil {
				return err
			}
			return g.done(cmd, "Dropped uncommitted changes of "+u.String(), map[string]string{"branch": u.String()})
		},
	}
	reset.Flags().StringVar(&object, "object", "", "drop the uncommitted change of this one path only")
	reset.Flags().StringVar(&prefix, "prefix", "", "drop the uncommitted changes under this prefix only")
	reset.Flags().StringVar(&to, "to", "", "point the branch at this ref (lakeq://repository/ref), dropping its uncommitted changes")

	cmd.AddCommand(create, listCmd, del, reset)
	return cmd
}
