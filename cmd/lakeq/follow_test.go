package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// TestJobInterrupt ends the context of a wait as main does on Ctrl-C and
// checks what jobInterrupt does: it sends the cancel request under a
// context of its own, keeps the wait going unless the request failed, and
// ends it on a second interrupt.
func TestJobInterrupt(t *testing.T) {
	tests := []struct {
		name            string
		cancelErr       error
		secondInterrupt bool
		wantAborted     bool
		wantErr         bool
	}{
		{name: "canceled"},
		{name: "finished already", cancelErr: &client.APIError{StatusCode: http.StatusConflict}},
		{name: "cancel fails", cancelErr: &client.APIError{StatusCode: http.StatusBadGateway}, wantAborted: true, wantErr: true},
		{name: "second interrupt", secondInterrupt: true, wantAborted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, interrupt := context.WithCancel(context.Background())
			defer interrupt()
			wctx, abort := context.WithCancel(context.WithoutCancel(ctx))
			defer abort()
			sent := make(chan error, 1)
			w := watchInterrupt(ctx, abort, func(cctx context.Context) error {
				_, bounded := cctx.Deadline()
				if cctx.Err() != nil || !bounded {
					sent <- errors.New("the cancel request's context is ended or unbounded")
				} else {
					sent <- nil
				}
				return tt.cancelErr
			}, nil)
			defer w.stop()

			interrupt()
			select {
			case err := <-sent:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute):
				t.Fatal("no cancel request after the interrupt")
			}
			if tt.secondInterrupt {
				// The watch registered for signals before the request.
				if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
				select {
				case <-wctx.Done():
				case <-time.After(time.Minute):
					t.Fatal("the wait goes on after a second interrupt")
				}
			}
			interrupted, err := w.end(ctx, "import x", nil)
			if !interrupted || (err != nil) != tt.wantErr || (wctx.Err() != nil) != tt.wantAborted {
				t.Fatalf("end: interrupted %v, error %v, wait ended %v; want error %v, wait ended %v",
					interrupted, err, wctx.Err() != nil, tt.wantErr, tt.wantAborted)
			}
		})
	}
}

// waitingFor is the line a command that waits for a job prints first.
var waitingFor = regexp.MustCompile(`Waiting for (?:import|export) (\S+); Ctrl-C cancels it`)

// TestCLIWaitInterruptCancels interrupts `lakeq import --wait` and
// `lakeq export --wait` with SIGINT, as Ctrl-C does, and checks that the
// job is canceled and the command says so and fails. The server runs no
// worker of the job's kind, so the job waits in its queue until canceled.
func TestCLIWaitInterruptCancels(t *testing.T) {
	tests := []struct {
		kind        string
		serverKinds string   // the job kinds the server's workers run
		args        []string // the command, after the repository is set up
		want        string   // in its output
	}{
		{"import", "export", []string{"import", "--from", "SRC/", "--to", "lakeq://intr/main/in/", "--wait"}, "did not complete: import canceled"},
		{"export", "import", []string{"export", "lakeq://intr/main", "local://lakeq/exports/intr/", "--wait"}, "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			src := t.TempDir()
			if err := os.WriteFile(filepath.Join(src, "a.csv"), []byte("a\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			creds := []string{"LAKEQ_ACCESS_KEY_ID=" + walkKeyID, "LAKEQ_SECRET_ACCESS_KEY=" + walkSecret}
			serverEnv := testEnv(t, append(append(freePortEnv, creds...), "LAKEQ_IMPORT_ALLOW="+src, "LAKEQ_KINDS="+tt.serverKinds)...)
			srv := startServer(t, t.TempDir(), serverEnv, upCommand(t, t.TempDir())...)
			env := testEnv(t, append(creds, "LAKEQ_ENDPOINT="+srv.endpoint)...)
			lq := func(args ...string) string { t.Helper(); return runLakeq(t, env, args...) }

			lq("repo", "create", "lakeq://intr", "local://lakeq/intr/")
			lq("fs", "upload", "lakeq://intr/main/a.csv", "--source", filepath.Join(src, "a.csv"))
			lq("commit", "lakeq://intr/main", "-m", "a")

			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.Replace(a, "SRC", "local://"+src, 1)
			}
			cmd := exec.Command(filepath.Join(lakeqBinary(t), "lakeq"), args...)
			cmd.Env = env
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			cmd.Stdout, cmd.Stderr = stdout, stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			var waitErr error
			go func() {
				waitErr = cmd.Wait()
				close(exited)
			}()
			t.Cleanup(func() {
				select {
				case <-exited:
				default:
					_ = cmd.Process.Kill()
					<-exited
				}
			})

			// Interrupt it once it waits for the job.
			var id string
			deadline := time.After(time.Minute)
			for id == "" {
				if m := waitingFor.FindStringSubmatch(stderr.String()); m != nil {
					id = m[1]
					break
				}
				select {
				case <-exited:
					t.Fatalf("lakeq %s exited before it waited: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), waitErr, stdout, stderr)
				case <-deadline:
					t.Fatalf("lakeq %s did not say it waits\nstderr:\n%s", strings.Join(args, " "), stderr)
				case <-time.After(20 * time.Millisecond):
				}
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(time.Minute):
				t.Fatalf("lakeq %s still runs a minute after SIGINT\nstderr:\n%s", strings.Join(args, " "), stderr)
			}
			var exit *exec.ExitError
			if !errors.As(waitErr, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("lakeq %s ended with %v after SIGINT, want exit status 1\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), waitErr, stdout, stderr)
			}
			if !strings.Contains(stdout.String(), tt.want) || !strings.Contains(stderr.String(), "Canceling "+tt.kind+" "+id) {
				t.Fatalf("after SIGINT, want %q in the output and the cancellation on stderr\nstdout:\n%s\nstderr:\n%s", tt.want, stdout, stderr)
			}

			var job struct {
				Kind            string `json:"kind"`
				State           string `json:"state"`
				CancelRequested bool   `json:"cancel_requested"`
			}
			if err := json.Unmarshal([]byte(lq("jobs", "show", id, "-o", "json")), &job); err != nil {
				t.Fatal(err)
			}
			if job.Kind != tt.kind || job.State != "CANCELED" {
				t.Fatalf("job %s after SIGINT: %+v, want a canceled %s", id, job, tt.kind)
			}
			srv.stop(t, syscall.SIGTERM)
		})
	}
}
