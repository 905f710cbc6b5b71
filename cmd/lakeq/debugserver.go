package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// sampleHeap keeps the Go runtime's sampling of allocations for the heap
// profile when served, and stops it otherwise: nothing could read the
// profile, and each sample costs a stack walk, which reads the binary's
// tables, and a record kept for good. Call it before the process
// allocates much.
func sampleHeap(served bool) {
	if !served {
		runtime.MemProfileRate = 0
	}
}

// debugComponent serves, on addr, the process's Prometheus metrics (Go
// runtime and process collectors) at /metrics and Go's profiles at
// /debug/pprof/. addr "" serves nothing.
func debugComponent(addr string, log *slog.Logger) component {
	var srv *http.Server
	return component{
		name: "debug server",
		start: func(context.Context) error {
			if addr == "" {
				return nil
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("debug server: %w", err)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			mux := http.NewServeMux()
			mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("debug server", "error", err.Error())
				}
			}()
			log.Info("debug server listening", "addr", ln.Addr().String())
			return nil
		},
		stop: func(ctx context.Context) error {
			if srv == nil {
				return nil
			}
			return srv.Shutdown(ctx)
		},
	}
}
