package natsserver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lakeq/lakeq/store"
)

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 20*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func connectJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{StoreDir: "/tmp/x"}, true},
		{"random port", Config{StoreDir: "/tmp/x", Port: RandomPort}, true},
		{"no store dir", Config{}, false},
		{"port below -1", Config{StoreDir: "/tmp/x", Port: -2}, false},
		{"port too big", Config{StoreDir: "/tmp/x", Port: 70000}, false},
		{"negative memory", Config{StoreDir: "/tmp/x", MaxMemory: -1}, false},
		{"negative store", Config{StoreDir: "/tmp/x", MaxStore: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Validate = %v, want an error wrapping store.ErrInvalid", err)
			}
		})
	}
}

func TestStartServesJetStream(t *testing.T) {
	s := startServer(t, Config{Port: RandomPort, StoreDir: t.TempDir()})
	if s.Port() <= 0 {
		t.Fatalf("Port() = %d after Start, want the bound port", s.Port())
	}
	if want := "nats://127.0.0.1:" + strconv.Itoa(s.Port()); s.ClientURL() != want {
		t.Fatalf("ClientURL() = %q, want %q", s.ClientURL(), want)
	}
	js := connectJS(t, s.ClientURL())
	info, err := js.AccountInfo(t.Context())
	if err != nil {
		t.Fatalf("AccountInfo: %v", err)
	}
	if info.Tier.Streams != 0 {
		t.Fatalf("fresh server has %d streams", info.Tier.Streams)
	}
	// Starting a running server changes nothing.
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("second Start: %v", err)
	}
}

func TestStreamSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, Config{Port: RandomPort, StoreDir: dir})
	port := s.Port()
	js := connectJS(t, s.ClientURL())
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, "keep.a", []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}

	stopCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(stopCtx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := s.Start(stopCtx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if s.Port() != port {
		t.Fatalf("restarted on port %d, want the first port %d", s.Port(), port)
	}

	js2 := connectJS(t, s.ClientURL())
	st, err := js2.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != 3 {
		t.Fatalf("stream holds %d messages after restart, want 3", info.State.Msgs)
	}
	msg, err := st.GetMsg(ctx, 2)
	if err != nil {
		t.Fatalf("GetMsg: %v", err)
	}
	if string(msg.Data) != "1" {
		t.Fatalf("message 2 = %q, want %q", msg.Data, "1")
	}
}

func TestStartFailsOnTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	s, err := New(Config{Port: port, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err = s.Start(ctx)
	if err == nil {
		_ = s.Stop(ctx)
		t.Fatal("Start on a taken port succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("Start waited for the context instead of reporting the failure: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop after a failed Start: %v", err)
	}
}
