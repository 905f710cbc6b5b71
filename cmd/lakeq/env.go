package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix starts the environment variable of every flag.
const envPrefix = "LAKEQ_"

// envName is the environment variable that sets the flag named name:
// --data-dir is LAKEQ_DATA_DIR.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// skipEnv lists flags that have no environment variable.
var skipEnv = map[string]bool{"help": true, "version": true}

// documentEnv appends "[$LAKEQ_…]" to the usage of every flag of cmd and of
// its subcommands, so that --help shows the variable next to each flag.
func documentEnv(cmd *cobra.Command) {
	note := func(f *pflag.Flag) {
		if !skipEnv[f.Name] && !strings.Contains(f.Usage, "[$"+envPrefix) {
			f.Usage += " [$" + envName(f.Name) + "]"
		}
	}
	cmd.LocalFlags().VisitAll(note)
	cmd.PersistentFlags().VisitAll(note)
	for _, sub := range cmd.Commands() {
		documentEnv(sub)
	}
}

// bindEnv fills every flag of cmd (its own and those it inherits) that was
// not given on the command line from its environment variable, when that
// is set. A value the flag rejects is an error naming the variable.
func bindEnv(cmd *cobra.Command) error {
	var errs []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || skipEnv[f.Name] {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if err := cmd.Flags().Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: %v", envName(f.Name), v, err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("environment: %s", strings.Join(errs, "; "))
	}
	return nil
}
