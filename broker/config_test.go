package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"cluster urls", func(c *Config) { c.URL = "nats://a:4222,nats://b:4222"; c.Replicas = 3 }, true},
		{"only commas", func(c *Config) { c.URL = " , " }, false},
		{"replicas 6", func(c *Config) { c.Replicas = 6 }, false},
		{"negative replicas", func(c *Config) { c.Replicas = -1 }, false},
		{"negative duplicate window", func(c *Config) { c.DuplicateWindow = -time.Second }, false},
		{"negative events max age", func(c *Config) { c.EventsMaxAge = -time.Second }, false},
		{"ack wait too short", func(c *Config) { c.AckWait = time.Millisecond }, false},
		{"max deliver not above backoff steps", func(c *Config) { c.MaxDeliver = 2; c.Backoff = []time.Duration{time.Second, time.Second} }, false},
		{"max deliver above backoff steps", func(c *Config) { c.MaxDeliver = 3; c.Backoff = []time.Duration{time.Second, time.Second} }, true},
		{"default backoff needs max deliver 6", func(c *Config) { c.MaxDeliver = 5 }, false},
		{"negative max deliver", func(c *Config) { c.MaxDeliver = -1 }, false},
		{"zero backoff step", func(c *Config) { c.Backoff = []time.Duration{time.Second, 0} }, false},
		{"negative max ack pending", func(c *Config) { c.MaxAckPending = -1 }, false},
		{"reconnect max below min", func(c *Config) { c.ReconnectWait = time.Second; c.ReconnectMaxWait = time.Millisecond }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			tt.modify(&c)
			err := c.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok {
				if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.URL != DefaultURL || c.Name != DefaultName || c.Replicas != 1 || c.DuplicateWindow != 10*time.Minute ||
		c.EventsMaxAge != 24*time.Hour || c.AckWait != 30*time.Second || c.MaxDeliver != 10 ||
		len(c.Backoff) != len(DefaultBackoff) || c.MaxAckPending != 1000 || c.Logger == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	c.Backoff[0] = time.Hour
	if DefaultBackoff[0] == time.Hour {
		t.Fatal("withDefaults shares DefaultBackoff's array")
	}
}

func TestConfigBackoff(t *testing.T) {
	c := Config{AckWait: 10 * time.Second, Backoff: []time.Duration{time.Second, 5 * time.Second, time.Minute}}
	tests := []struct {
		delivered uint64
		want      time.Duration
	}{
		{0, time.Second},
		{1, time.Second},
		{2, 5 * time.Second},
		{3, time.Minute},
		{9, time.Minute},
	}
	for _, tt := range tests {
		if got := c.backoff(tt.delivered); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.delivered, got, tt.want)
		}
	}
	naks := []struct {
		delivered  uint64
		wait, want time.Duration
	}{
		{1, 3 * time.Second, 3 * time.Second},
		{2, 5 * time.Second, time.Second},
		{3, time.Minute, time.Second},
		{9, 2 * time.Minute, 61 * time.Second},
		{3, time.Second, time.Millisecond},
	}
	for _, tt := range naks {
		if got := c.nakDelay(tt.delivered, tt.wait); got != tt.want {
			t.Errorf("nakDelay(%d, %s) = %s, want %s", tt.delivered, tt.wait, got, tt.want)
		}
	}
	want := []time.Duration{11 * time.Second, 15 * time.Second, 70 * time.Second}
	got := c.serverBackoff()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("serverBackoff() = %v, want %v", got, want)
		}
	}
}

func TestReconnectDelay(t *testing.T) {
	f := reconnectDelay(100*time.Millisecond, time.Second)
	for attempts := 1; attempts < 20; attempts++ {
		d := f(attempts)
		if d < 90*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("delay for attempt %d = %s, out of [90ms, 1.2s]", attempts, d)
		}
	}
	if d := f(10); d < 900*time.Millisecond {
		t.Fatalf("delay for attempt 10 = %s, want near the 1s cap", d)
	}
}
