package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// followOptions say how a command follows a job to its end.
type followOptions struct {
	// poll is how often the job's state is asked for when it is polled.
	poll time.Duration
	// stderr receives the progress bar and the messages about the wait.
	stderr io.Writer
	// showBar draws the progress bar.
	showBar bool
	// cancel makes an interrupt cancel the job (see jobInterrupt); without
	// it, an interrupt only ends the wait and the job goes on.
	cancel bool
}

// lockedWriter serializes the writes of the progress bar and of the
// interrupt's message.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cancelRequestTimeout bounds the cancel request an interrupted wait sends.
const cancelRequestTimeout = 30 * time.Second

// jobInterrupt turns the interruption of a command that waits for a job
// into the job's cancellation. main ends a command's context on the first
// Ctrl-C (or SIGTERM); the command then waits under a context of its own,
// which the interrupt does not end, while jobInterrupt sends the cancel
// request with a fresh context bounded by cancelRequestTimeout. A second
// Ctrl-C (or SIGTERM) ends the wait, as does a cancel request that fails;
// the job goes on to its end either way.
type jobInterrupt struct {
	cancelJob func(context.Context) error
	onCancel  func()             // called before the cancel request
	abort     context.CancelFunc // ends the wait
	stopCh    chan struct{}
	exited    chan struct{}

	// Written by run, read once stop has returned.
	interrupted bool  // ctx ended: the cancel request was sent
	err         error // the cancel request's error, but for a 409
}

// watchInterrupt watches ctx until stop: when ctx ends, it calls onCancel
// (unless nil) and cancelJob, and then calls abort — which must end the
// context the caller waits under — on a second interrupt, or at once if
// the cancel request failed. The caller waits for the job under a context
// that ctx's end does not end, and calls stop when the wait is over.
func watchInterrupt(ctx context.Context, abort context.CancelFunc, cancelJob func(context.Context) error, onCancel func()) *jobInterrupt {
	w := &jobInterrupt{
		cancelJob: cancelJob,
		onCancel:  onCancel,
		abort:     abort,
		stopCh:    make(chan struct{}),
		exited:    make(chan struct{}),
	}
	go w.run(ctx)
	return w
}

func (w *jobInterrupt) run(ctx context.Context) {
	defer close(w.exited)
	select {
	case <-w.stopCh:
		return
	case <-ctx.Done():
	}
	// Signals that come from now on are second interrupts: the first one
	// ended ctx before this registration, so it is not delivered here.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	w.interrupted = true
	if w.onCancel != nil {
		w.onCancel()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelRequestTimeout)
	err := w.cancelJob(cctx)
	cancel()
	// A 409 says that the job can no longer be canceled (it has finished,
	// or is committing its result): the wait ends with the job.
	if err != nil && !client.IsStatus(err, http.StatusConflict) {
		w.err = err
		w.abort()
		return
	}
	select {
	case <-w.stopCh:
	case <-sigs:
		w.abort()
	}
}

// end stops the watch and returns what the wait for the job called what
// ("import <id>") ends with, given the wait's own error: the cancel
// request's error if it failed; an error saying that the job was asked to
// stop if the wait was cut short after the request; waitErr otherwise.
// interrupted reports whether the command was interrupted. A nil w (no
// watch: the wait was under ctx) says when ctx's end cut the wait short
// that the job goes on.
func (w *jobInterrupt) end(ctx context.Context, what string, waitErr error) (interrupted bool, err error) {
	if w == nil {
		if waitErr != nil && ctx.Err() != nil {
			return false, fmt.Errorf("stopped following %s, which goes on: %w", what, waitErr)
		}
		return false, waitErr
	}
	w.stop()
	switch {
	case w.err != nil:
		return true, fmt.Errorf("cancel %s: %w", what, w.err)
	case w.interrupted && waitErr != nil:
		return true, fmt.Errorf("%s: cancel requested; stopped waiting for it to end: %w", what, waitErr)
	}
	return w.interrupted, waitErr
}

// stop ends the watch and waits for it, including a cancel request under
// way. It may be called more than once.
func (w *jobInterrupt) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
	<-w.exited
}

// startWait starts the wait for the job called what ("import <id>"). With
// o.cancel it says on stderr that Ctrl-C cancels the job, and watches ctx
// for the interrupt (see jobInterrupt); it returns the context to wait
// under, a release to call when the command is done with it, and the watch
// (nil without o.cancel, when the wait is under ctx itself).
func startWait(ctx context.Context, o followOptions, stderr io.Writer, what string, cancelJob func(context.Context) error) (context.Context, func(), *jobInterrupt) {
	if !o.cancel {
		return ctx, func() {}, nil
	}
	wctx, abort := context.WithCancel(context.WithoutCancel(ctx))
	fmt.Fprintf(stderr, "Waiting for %s; Ctrl-C cancels it\n", what)
	w := watchInterrupt(ctx, abort, cancelJob, func() {
		if o.showBar {
			fmt.Fprintln(stderr) // end the progress bar's line
		}
		fmt.Fprintf(stderr, "Canceling %s; Ctrl-C again stops waiting\n", what)
	})
	return wctx, func() { w.stop(); abort() }, w
}
