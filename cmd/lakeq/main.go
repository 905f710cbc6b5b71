// Command lakeq is lakeq's one binary: `lakeq up` runs everything in one
// process with embedded defaults, `lakeq api` is the production API role,
// and the other subcommands are a client of the REST API (repositories,
// branches, commits, diff, merge, objects) addressed with
// lakeq://repository/ref/path URIs.
//
// Every flag can also be set through an environment variable: LAKEQ_
// followed by the flag's name in upper case with '-' as '_' (--data-dir is
// LAKEQ_DATA_DIR). A flag given on the command line wins over the
// environment, which wins over ~/.lakeq.yaml (client settings only), which
// wins over the default.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first Ctrl-C or SIGTERM ends the command's context: a server
	// stops, and a command that waits for a job cancels it (see
	// jobInterrupt).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "Error:", err)
		}
		os.Exit(1)
	}
}
