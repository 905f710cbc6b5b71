package main

import (
	"iter"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// diffSigns are how the human output marks each kind of difference.
var diffSigns = map[string]string{
	"added":          "+",
	"removed":        "-",
	"changed":        "~",
	"conflict":       "!",
	"prefix_changed": "~",
}

// newDiffCmd builds `lakeq diff`.
func newDiffCmd(g *globals) *cobra.Command {
	var (
		prefix    string
		delimiter string
		amount    int
	)
	cmd := &cobra.Command{
		Use:   "diff lakeq://REPOSITORY/LEFT [lakeq://REPOSITORY/RIGHT]",
		Short: "Show what changed from LEFT to RIGHT, or a branch's uncommitted changes when given one branch",
		Example: `  lakeq diff lakeq://example/main lakeq://example/dev
  lakeq diff lakeq://example/dev`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			left, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			opts := client.ListOptions{Prefix: prefix, Delimiter: delimiter, PageSize: min(max(amount, 0), 1000)}
			var seq iter.Seq2[client.Diff, error]
			if len(args) == 1 {
				seq = c.DiffBranch(cmd.Context(), string(left.Repo), string(left.Ref), opts)
			} else {
				right, err := parseURIArg(args[1], uriRef)
				if err != nil {
					return err
				}
				if err := sameRepo(left, right); err != nil {
					return err
				}
				seq = c.Diff(cmd.Context(), string(left.Repo), string(left.Ref), string(right.Ref), opts)
			}
			return list(newPrinter(cmd.OutOrStdout(), g.output), limit(seq, amount), nil,
				func(d client.Diff) []string {
					sign, ok := diffSigns[d.Type]
					if !ok {
						sign = "?"
					}
					return []string{sign, d.Type, d.Path}
				})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only paths under this prefix")
	cmd.Flags().StringVar(&delimiter, "delimiter", "", `group changes by directory ("/")`)
	cmd.Flags().IntVar(&amount, "amount", 0, "show at most this many differences (0: all)")
	return cmd
}

// limit stops seq after n items; n <= 0 keeps all.
func limit[T any](seq iter.Seq2[T, error], n int) iter.Seq2[T, error] {
	if n <= 0 {
		return seq
	}
	return func(yield func(T, error) bool) {
		i := 0
		for v, err := range seq {
			if !yield(v, err) || err != nil {
				return
			}
			if i++; i >= n {
				return
			}
		}
	}
}
