package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/api"
	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/workers"
)

// Layout of the data directory of `lakeq up`.
const (
	kvFileName   = "kv.db"  // the metadata KV (bbolt)
	blocksDir    = "blocks" // the local blockstore's root
	natsDir      = "nats"   // JetStream's store
	defaultLocal = "lakeq"  // the local bucket repositories go in: local://lakeq/<repo>/
)

// upFlags are the flags of `lakeq up`.
type upFlags struct {
	serverFlags
	runnerFlags
	dataDir  string
	natsPort int
}

// newUpCmd builds `lakeq up`.
func newUpCmd(g *globals) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run lakeq in one process with no outside service: API, embedded KV, NATS and local storage",
		Long: `Run everything in one process: the HTTP API, an embedded metadata KV
(bbolt), an embedded NATS server with JetStream, and a local-filesystem
blockstore, all under one data directory (--data-dir). Data survives a
restart.

Repositories keep their objects under the local bucket "` + defaultLocal + `":
create them with a storage namespace such as local://` + defaultLocal + `/my-repo/.

The first start creates admin credentials and prints them once; set
LAKEQ_ACCESS_KEY_ID and LAKEQ_SECRET_ACCESS_KEY to choose them instead.
Ctrl-C (SIGINT) or SIGTERM stops it cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd, g, f)
		},
	}
	f.serverFlags.register(cmd)
	f.runnerFlags.register(cmd)
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "lakeq-data", "directory holding all of lakeq's data")
	cmd.Flags().IntVar(&f.natsPort, "nats-port", natsserver.DefaultPort, "client port of the embedded NATS server on 127.0.0.1 (-1: any free port)")
	return cmd
}

func runUp(cmd *cobra.Command, g *globals, f *upFlags) error {
	log, err := f.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if err := f.checkKinds(); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(f.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	ctx, stopSignals := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	// Once shutdown has begun, a second signal ends the process at once.
	context.AfterFunc(ctx, stopSignals)

	var (
		kvs      *bolt.Store
		blocks   *local.Store
		resolver *block.Resolver
		c        *core
		srv      *api.Server
		creds    *initialCredentials
		nats     *natsserver.Server
		brk      *broker.Broker
		runner   *workers.Runner
	)
	lc := &lifecycle{log: log}
	lc.add(component{
		name: "kv",
		start: func(context.Context) (err error) {
			kvs, err = bolt.Open(filepath.Join(dataDir, kvFileName), bolt.Options{})
			return err
		},
		stop: func(context.Context) error { return kvs.Close() },
	})
	lc.add(component{
		name: "blockstore",
		start: func(ctx context.Context) error {
			root := filepath.Join(dataDir, blocksDir)
			if err := os.MkdirAll(root, 0o700); err != nil {
				return err
			}
			var err error
			if blocks, err = local.New(root); err != nil {
				return err
			}
			return blocks.MakeBucket(ctx, defaultLocal)
		},
		stop: func(context.Context) error { return blocks.Close() },
	})
	lc.add(component{
		name: "store",
		start: func(ctx context.Context) error {
			var err error
			if resolver, err = newResolver(nil, blocks, f.importAllow); err != nil {
				return err
			}
			if c, err = newCore(kvs, resolver, 0, log); err != nil {
				return err
			}
			creds, err = bootstrapCredentials(ctx, c.auth, g.accessKeyID, g.secretAccessKey)
			return err
		},
		stop: func(context.Context) error { return resolver.Close() },
	})
	lc.add(component{
		name: "nats",
		start: func(ctx context.Context) (err error) {
			nats, err = natsserver.New(natsserver.Config{Port: f.natsPort, StoreDir: filepath.Join(dataDir, natsDir)})
			if err != nil {
				return err
			}
			return nats.Start(ctx)
		},
		stop: func(ctx context.Context) error { return nats.Stop(ctx) },
	})
	lc.add(brokerComponent(func() string { return nats.ClientURL() }, log, &brk))
	// Job workers (import, export, GC, ingestion) are added here, over brk
	// and the store: after the broker so that they stop before it closes,
	// before the API so that they are ready when it accepts jobs.
	lc.add(workerComponent(&f.runnerFlags, &c, func() kv.Store { return kvs }, &brk, log, &runner))
	lc.add(apiComponent(&f.serverFlags, &c, &brk, log, &srv))

	return lc.run(ctx, f.grace, func() {
		printBanner(cmd.OutOrStdout(), "up", endpointURL(srv.Addr()), creds, g.accessKeyID != "", []string{
			"Data:        " + dataDir,
			"Storage:     local://" + defaultLocal + "/ (create repositories under it, e.g. local://" + defaultLocal + "/my-repo/)",
			"NATS:        " + nats.ClientURL(),
		})
	})
}
