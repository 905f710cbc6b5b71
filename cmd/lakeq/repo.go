package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// newRepoCmd builds `lakeq repo`.
func newRepoCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Create, list and delete repositories"}

	var defaultBranch string
	create := &cobra.Command{
		Use:   "create lakeq://REPOSITORY STORAGE_NAMESPACE",
		Short: "Create a repository whose data lives under STORAGE_NAMESPACE (s3://bucket/prefix or local://bucket/prefix)",
		Example: `  lakeq repo create lakeq://example local://example/
  lakeq repo create lakeq://sales s3://my-bucket/lakeq/sales/ --default-branch main`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRepo)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			r, err := c.CreateRepository(cmd.Context(), client.RepositoryCreation{
				Name: string(u.Repo), StorageNamespace: args[1], DefaultBranch: defaultBranch,
			})
			if err != nil {
				return err
			}
			return newPrinter(cmd.OutOrStdout(), g.output).object(r, func(w io.Writer) {
				fmt.Fprintf(w, "Repository:\tlakeq://%s\n", r.ID)
				fmt.Fprintf(w, "Storage namespace:\t%s\n", r.StorageNamespace)
				fmt.Fprintf(w, "Default branch:\t%s\n", r.DefaultBranch)
			})
		},
	}
	create.Flags().StringVar(&defaultBranch, "default-branch", "main", "name of the repository's default branch")

	listCmd := &cobra.Command{
		Use:   "list",
		Short: "List repositories",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			return list(newPrinter(cmd.OutOrStdout(), g.output),
				c.ListRepositories(cmd.Context(), client.ListOptions{}),
				[]string{"REPOSITORY", "DEFAULT BRANCH", "STORAGE NAMESPACE", "CREATED"},
				func(r client.Repository) []string {
					return []string{r.ID, r.DefaultBranch, r.StorageNamespace, formatTime(r.CreationDate)}
				})
		},
	}

	del := &cobra.Command{
		Use:   "delete lakeq://REPOSITORY",
		Short: "Delete a repository (its objects stay in the storage namespace)",
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
			if err := c.DeleteRepository(cmd.Context(), string(u.Repo)); err != nil {
				return err
			}
			return g.done(cmd, "Deleted repository "+u.String(), map[string]string{"deleted": u.String()})
		},
	}
	cmd.AddCommand(create, listCmd, del)
	return cmd
}

// done reports a command that has no result of its own: a sentence, or a
// small JSON object.
func (g *globals) done(cmd *cobra.Command, msg string, v any) error {
	return newPrinter(cmd.OutOrStdout(), g.output).object(v, func(w io.Writer) {
		fmt.Fprintln(w, msg)
	})
}
