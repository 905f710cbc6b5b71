package main

import "github.com/spf13/cobra"

// benchCommands are the subcommands of `lakeq bench`; each benchmark file
// adds its own from an init function, so that benchmarks stay in files of
// their own.
var benchCommands []func(g *globals) *cobra.Command

// newBenchCmd builds `lakeq bench`.
func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure lakeq's jobs against the bare object-store operation, in the same run",
		Long: `Benchmarks that run one of lakeq's jobs end to end on real servers they start
themselves, and time the bare object-store operation the job is made of (at
the same parallelism, on the same servers) in the same run: the ratio of the
two is how much lakeq adds to the physical limit of the machine.`,
		Args: cobra.NoArgs,
	}
	for _, sub := range benchCommands {
		cmd.AddCommand(sub(g))
	}
	return cmd
}
