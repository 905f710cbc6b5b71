package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// version is the build's version, set with -ldflags "-X main.version=…".
var version = "dev"

// errSilent is returned by commands that already told the user what went
// wrong; main exits 1 without printing it again.
var errSilent = errors.New("reported")

// globals are the flags every command shares.
type globals struct {
	configPath      string
	endpoint        string
	accessKeyID     string
	secretAccessKey string
	output          string
}

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// newRootCmd builds the whole command tree.
func newRootCmd() *cobra.Command { return newRootCmdWith(&globals{}) }

// newRootCmdWith builds the command tree over g, which receives the shared
// flags.
func newRootCmdWith(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "lakeq",
		Short: "lakeq is a versioned data lake whose heavy operations run as jobs",
		Long: `lakeq keeps repositories, branches and commits over objects in S3-compatible
storage or the local filesystem, and runs imports, exports, garbage collection
and ingestion as jobs on NATS JetStream workers.

Start a server with "lakeq up"; the other commands talk to it over HTTP.
Every flag can also be set with an environment variable (shown in brackets).`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			switch g.output {
			case outputTable, outputJSON:
			default:
				return fmt.Errorf("--output %q: want %q or %q", g.output, outputTable, outputJSON)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", defaultConfigPath(), "client configuration file")
	pf.StringVar(&g.endpoint, "endpoint", "", "lakeq server URL, e.g. http://127.0.0.1:8000 (client commands)")
	pf.StringVar(&g.accessKeyID, "access-key-id", "", "access key id (client commands; for up and api: the initial admin's)")
	pf.StringVar(&g.secretAccessKey, "secret-access-key", "", "secret access key (client commands; for up and api: the initial admin's)")
	pf.StringVarP(&g.output, "output", "o", outputTable, `output format: "table" or "json"`)

	root.AddCommand(
		newUpCmd(g),
		newAPICmd(g),
		newConfigCmd(g),
		newRepoCmd(g),
		newBranchCmd(g),
		newCommitCmd(g),
		newLogCmd(g),
		newDiffCmd(g),
		newMergeCmd(g),
		newFSCmd(g),
		newBenchCmd(g),
		newImportCmd(g),
		newExportCmd(g),
		newWorkerCmd(g),
		newJobsCmd(g),
	)
	documentEnv(root)
	return root
}

// client returns a REST client configured from the flags, the environment
// and the configuration file, in that order of precedence.
func (g *globals) client(cmd *cobra.Command) (*client.Client, error) {
	if err := g.applyConfigFile(cmd); err != nil {
		return nil, err
	}
	return client.New(client.Config{
		Endpoint:        g.endpoint,
		AccessKeyID:     g.accessKeyID,
		SecretAccessKey: g.secretAccessKey,
		UserAgent:       "lakeq-cli/" + version,
	})
}
