package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// newMergeCmd builds `lakeq merge`.
func newMergeCmd(g *globals) *cobra.Command {
	var (
		message  string
		meta     []string
		strategy string
	)
	cmd := &cobra.Command{
		Use:   "merge lakeq://REPOSITORY/SOURCE lakeq://REPOSITORY/DESTINATION",
		Short: "Merge a ref into a branch",
		Example: `  lakeq merge lakeq://example/dev lakeq://example/main
  lakeq merge lakeq://example/dev lakeq://example/main --strategy source-wins`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			dst, err := parseURIArg(args[1], uriRef)
			if err != nil {
				return err
			}
			if err := sameRepo(src, dst); err != nil {
				return err
			}
			switch strategy {
			case "", "source-wins", "dest-wins":
			default:
				return fmt.Errorf("--strategy %q: want source-wins or dest-wins", strategy)
			}
			md, err := parseMeta(meta)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			res, err := c.Merge(cmd.Context(), string(src.Repo), string(src.Ref), string(dst.Ref), client.Merge{
				Message: message, Metadata: md, Strategy: strategy,
			})
			if err != nil {
				return err
			}
			return newPrinter(cmd.OutOrStdout(), g.output).object(res, func(w io.Writer) {
				fmt.Fprintf(w, "Merged %s into %s\n", src, dst)
				fmt.Fprintf(w, "Commit:\t%s\n", res.Reference)
			})
		},
	}
	cmd.Flags().StringVarP(&message, "message", "m", "", "merge commit message (default: Merge '<source>' into '<destination>')")
	cmd.Flags().StringArrayVar(&meta, "meta", nil, "merge commit metadata as key=value (repeatable)")
	cmd.Flags().StringVar(&strategy, "strategy", "", "on conflict, keep the source's change (source-wins) or the destination's (dest-wins); default: fail")
	return cmd
}
