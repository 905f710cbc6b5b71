package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

var (
	bannerKeyID  = regexp.MustCompile(`LAKEQ_ACCESS_KEY_ID=(\S+)`)
	bannerSecret = regexp.MustCompile(`LAKEQ_SECRET_ACCESS_KEY=(\S+)`)
)

// TestUpRestart starts `lakeq up` on a fresh data directory without
// credentials, uses the ones it prints, stops it, starts it again on the
// same directory and finds the data there, with no credentials printed
// the second time.
func TestUpRestart(t *testing.T) {
	dataDir := t.TempDir()
	env := testEnv(t, freePortEnv...)

	first := startServer(t, t.TempDir(), env, upCommand(t, dataDir)...)
	out := first.stdout.String()
	keyID, secret := bannerKeyID.FindStringSubmatch(out), bannerSecret.FindStringSubmatch(out)
	if keyID == nil || secret == nil {
		t.Fatalf("the first start printed no credentials:\n%s", out)
	}
	clientEnv := testEnv(t,
		"LAKEQ_ENDPOINT="+first.endpoint,
		"LAKEQ_ACCESS_KEY_ID="+keyID[1],
		"LAKEQ_SECRET_ACCESS_KEY="+secret[1])

	src := filepath.Join(t.TempDir(), "kept.txt")
	if err := os.WriteFile(src, []byte("kept across restarts\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runLakeq(t, clientEnv, "repo", "create", "lakeq://persist", "local://lakeq/persist/")
	runLakeq(t, clientEnv, "fs", "upload", "lakeq://persist/main/kept.txt", "--source", src)
	runLakeq(t, clientEnv, "commit", "lakeq://persist/main", "-m", "before the restart")

	// Wrong credentials are refused.
	bad := testEnv(t, "LAKEQ_ENDPOINT="+first.endpoint, "LAKEQ_ACCESS_KEY_ID="+keyID[1], "LAKEQ_SECRET_ACCESS_KEY=wrong")
	if _, err := runLakeqErr(t, bad, "repo", "list"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("repo list with a wrong secret: %v, want 401", err)
	}

	// A second lakeq cannot use the same data directory at the same time.
	if out, err := runLakeqErr(t, env, "up", "--data-dir", dataDir); err == nil {
		t.Fatalf("a second lakeq up on the same data directory started:\n%s", out)
	} else if !strings.Contains(err.Error(), "data directory") {
		t.Errorf("a second lakeq up on the same data directory: %v; want the error to name the data directory", err)
	}

	first.stop(t, syscall.SIGTERM)
	if strings.Contains(first.stderr.String(), secret[1]) {
		t.Fatal("the generated secret was logged")
	}

	second := startServer(t, t.TempDir(), env, upCommand(t, dataDir)...)
	out2 := second.stdout.String()
	if strings.Contains(out2, secret[1]) || bannerSecret.MatchString(out2) || strings.Contains(second.stderr.String(), secret[1]) {
		t.Fatalf("the restart printed or logged credentials again:\n%s", out2)
	}
	clientEnv = testEnv(t,
		"LAKEQ_ENDPOINT="+second.endpoint,
		"LAKEQ_ACCESS_KEY_ID="+keyID[1],
		"LAKEQ_SECRET_ACCESS_KEY="+secret[1])
	if repos := runLakeq(t, clientEnv, "repo", "list"); !strings.Contains(repos, "persist") {
		t.Fatalf("after the restart, repo list is:\n%s", repos)
	}
	if log := runLakeq(t, clientEnv, "log", "lakeq://persist/main"); !strings.Contains(log, "before the restart") {
		t.Fatalf("after the restart, the log is:\n%s", log)
	}
	if got := runLakeq(t, clientEnv, "fs", "cat", "lakeq://persist/main/kept.txt"); got != "kept across restarts\n" {
		t.Fatalf("after the restart, the object reads %q", got)
	}
	second.stop(t, syscall.SIGINT)
}

// TestReadmeRunCommand runs the README's first command verbatim from the
// repository's root, with the port and data directory moved through the
// environment variables lakeq reads, and checks that lakeq answers and
// stops cleanly on Ctrl-C.
func TestReadmeRunCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles lakeq with go run")
	}
	section := readmeSection(t, "readme:run")
	_, code, _ := strings.Cut(section, "```sh\n")
	code, _, _ = strings.Cut(code, "```")
	command := strings.TrimSpace(code)
	if command != "go run ./cmd/lakeq up" {
		t.Fatalf("the README's first command is %q", command)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(t, append(freePortEnv, "LAKEQ_DATA_DIR="+t.TempDir())...)
	// `go run` needs the caller's HOME for its caches.
	env = append(env, "HOME="+os.Getenv("HOME"))
	srv := startServer(t, root, env, "bash", "-c", command)
	if !bannerSecret.MatchString(srv.stdout.String()) {
		t.Errorf("the first start printed no credentials:\n%s", srv.stdout)
	}
	// `go run` itself exits with status 1 when interrupted, whatever its
	// program does; lakeq's clean stop shows in its log.
	if err := srv.signal(t, syscall.SIGINT); err != nil && !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("go run: %v", err)
	}
	if strings.Contains(srv.stderr.String(), "Error:") {
		t.Fatalf("lakeq reported an error:\n%s", srv.stderr)
	}
}
