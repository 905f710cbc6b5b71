package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/api"
	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/kv/redis"
)

// apiFlags are the flags of `lakeq api`.
type apiFlags struct {
	serverFlags
	redisURL       string
	redisKeyPrefix string
	s3             s3.Config
	natsURL        string
}

// newAPICmd builds `lakeq api`.
func newAPICmd(g *globals) *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Run the HTTP API against Redis, S3 and NATS (production role)",
		Long: `Run the HTTP API role: metadata in Redis (--redis-url), object data in
S3-compatible storage (--s3-endpoint …), jobs published to NATS JetStream
(--nats-url). Any number of API processes may share them.

On the first start against an empty Redis, admin credentials are created and
printed once, unless LAKEQ_ACCESS_KEY_ID and LAKEQ_SECRET_ACCESS_KEY give
them. SIGINT or SIGTERM stops it cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAPI(cmd, g, f)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.redisURL, "redis-url", redis.DefaultURL, "Redis URL (redis://host:port/db, rediss:// for TLS; comma-separated for a cluster)")
	fl.StringVar(&f.redisKeyPrefix, "redis-key-prefix", redis.DefaultKeyPrefix, "prefix of every Redis key, to share one Redis between installations")
	fl.StringVar(&f.s3.Endpoint, "s3-endpoint", "", "S3 endpoint as host:port, e.g. 127.0.0.1:9000 (required)")
	fl.StringVar(&f.s3.Region, "s3-region", s3.DefaultRegion, "S3 region")
	fl.StringVar(&f.s3.AccessKeyID, "s3-access-key-id", "", "S3 access key id")
	fl.StringVar(&f.s3.SecretAccessKey, "s3-secret-access-key", "", "S3 secret access key")
	fl.BoolVar(&f.s3.PathStyle, "s3-path-style", false, "use path-style S3 requests (MinIO and most S3-compatible servers)")
	fl.BoolVar(&f.s3.Secure, "s3-secure", false, "use https to reach S3")
	fl.StringVar(&f.natsURL, "nats-url", broker.DefaultURL, "NATS server URLs, comma-separated")
	_ = cmd.MarkFlagRequired("s3-endpoint")
	return cmd
}

func runAPI(cmd *cobra.Command, g *globals, f *apiFlags) error {
	log, err := f.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx, stopSignals := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	context.AfterFunc(ctx, stopSignals)

	var (
		kvs      *redis.Store
		resolver *block.Resolver
		c        *core
		srv      *api.Server
		creds    *initialCredentials
		brk      *broker.Broker
	)
	lc := &lifecycle{log: log}
	lc.add(component{
		name: "kv",
		start: func(ctx context.Context) (err error) {
			kvs, err = redis.New(ctx, redis.Config{URL: f.redisURL, KeyPrefix: f.redisKeyPrefix})
			return err
		},
		stop: func(context.Context) error { return kvs.Close() },
	})
	lc.add(component{
		name: "store",
		start: func(ctx context.Context) error {
			objects, err := s3.New(f.s3)
			if err != nil {
				return err
			}
			probeObjects(ctx, objects, log)
			if resolver, err = newResolver(objects, nil, f.importAllow); err != nil {
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
	lc.add(brokerComponent(func() string { return f.natsURL }, log, &brk))
	lc.add(apiComponent(&f.serverFlags, &c, &brk, log, &srv))
	return lc.run(ctx, f.grace, func() {
		printBanner(cmd.OutOrStdout(), "api", endpointURL(srv.Addr()), creds, g.accessKeyID != "", []string{
			"Redis:       " + f.redisURL,
			"S3:          " + f.s3.Endpoint,
			"NATS:        " + f.natsURL,
		})
	})
}
