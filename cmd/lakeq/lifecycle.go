package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// component is one long-running part of a server process, started and
// stopped by a lifecycle.
type component struct {
	name  string
	start func(ctx context.Context) error // nil: nothing to start
	stop  func(ctx context.Context) error // nil: nothing to stop
}

// lifecycle starts components in the order they were added and stops them
// in reverse, so that each part stops before what it depends on. It is used
// from one goroutine.
type lifecycle struct {
	log     *slog.Logger
	parts   []component
	started int // parts[:started] have started
}

// add appends a component; it starts after every component added before.
func (l *lifecycle) add(c component) { l.parts = append(l.parts, c) }

// addCloser appends a component that only needs releasing at the end (an
// opened store).
func (l *lifecycle) addCloser(name string, closeFn func() error) {
	l.add(component{name: name, stop: func(context.Context) error { return closeFn() }})
}

// start starts every component not started yet, in order. When one fails,
// start stops the ones it started, in reverse, and returns the failure.
func (l *lifecycle) start(ctx context.Context, grace time.Duration) error {
	for l.started < len(l.parts) {
		c := l.parts[l.started]
		if c.start != nil {
			if err := c.start(ctx); err != nil {
				err = fmt.Errorf("start %s: %w", c.name, err)
				stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
				defer cancel()
				return errors.Join(err, l.stop(stopCtx))
			}
		}
		l.log.DebugContext(ctx, "started", slog.String("component", c.name))
		l.started++
	}
	return nil
}

// stop stops the started components in reverse order, each given what is
// left of ctx, and joins their errors. A component that fails to stop does
// not keep the others from stopping.
func (l *lifecycle) stop(ctx context.Context) error {
	var errs []error
	for l.started > 0 {
		l.started--
		c := l.parts[l.started]
		if c.stop == nil {
			continue
		}
		if err := c.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", c.name, err))
			continue
		}
		l.log.DebugContext(ctx, "stopped", slog.String("component", c.name))
	}
	return errors.Join(errs...)
}

// run starts every component, waits until ctx ends (a signal), then stops
// them within grace, measured from the moment ctx ended.
func (l *lifecycle) run(ctx context.Context, grace time.Duration, ready func()) error {
	if err := l.start(ctx, grace); err != nil {
		return err
	}
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	l.log.InfoContext(ctx, "shutting down", slog.Duration("grace", grace))
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := l.stop(stopCtx); err != nil {
		return err
	}
	l.log.InfoContext(stopCtx, "stopped")
	return nil
}
