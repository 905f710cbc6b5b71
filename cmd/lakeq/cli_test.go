package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLICommands drives every client command against a real `lakeq up`
// process, beyond what the README's walk-through shows.
func TestCLICommands(t *testing.T) {
	srv, env := startWalkthroughServer(t)
	lq := func(args ...string) string { t.Helper(); return runLakeq(t, env, args...) }
	lqFails := func(want string, args ...string) {
		t.Helper()
		out, err := runLakeqErr(t, env, args...)
		if err == nil {
			t.Fatalf("lakeq %s succeeded:\n%s", strings.Join(args, " "), out)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("lakeq %s: %v; want it to mention %q", strings.Join(args, " "), err, want)
		}
	}
	jsonOf := func(v any, args ...string) {
		t.Helper()
		out := lq(append(args, "--output", "json")...)
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("lakeq %s --output json: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// A directory tree to upload.
	dir := t.TempDir()
	for name, content := range map[string]string{
		"a.txt":         "a\n",
		"data/b.csv":    "b\n",
		"data/c.csv":    "c\n",
		"data/sub/d.js": "d\n",
		"tmp/e.txt":     "e\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	var repo struct {
		ID, DefaultBranch string
	}
	jsonOf(&repo, "repo", "create", "lakeq://cli-test", "local://lakeq/cli-test/", "--default-branch", "trunk")
	if repo.ID != "cli-test" {
		t.Fatalf("created %+v", repo)
	}
	lqFails("409", "repo", "create", "lakeq://cli-test", "local://lakeq/cli-test/")
	lqFails("invalid", "repo", "create", "lakeq://Bad_Name", "local://lakeq/x/")

	var uploaded []map[string]any
	jsonOf(&uploaded, "fs", "upload", "lakeq://cli-test/trunk/up/", "--source", dir, "--recursive", "-p", "3")
	if len(uploaded) != 5 {
		t.Fatalf("recursive upload reported %d objects: %v", len(uploaded), uploaded)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stdin := exec.CommandContext(ctx, filepath.Join(lakeqBinary(t), "lakeq"), "fs", "upload", "lakeq://cli-test/trunk/stdin.txt", "--source", "-")
	stdin.Env, stdin.Stdin = env, strings.NewReader("from stdin\n")
	if out, err := stdin.CombinedOutput(); err != nil {
		t.Fatalf("upload from stdin: %v\n%s", err, out)
	}

	// Uncommitted changes show in the one-branch diff.
	if d := lq("diff", "lakeq://cli-test/trunk"); strings.Count(d, "+  added") != 6 {
		t.Fatalf("uncommitted diff:\n%s", d)
	}
	lq("commit", "lakeq://cli-test/trunk", "-m", "upload tree", "--meta", "source=test")
	lqFails("no changes", "commit", "lakeq://cli-test/trunk", "-m", "nothing to commit")

	// Listing: one level with directories, or everything.
	if ls := lq("fs", "ls", "lakeq://cli-test/trunk/up/"); !strings.Contains(ls, "dir") || !strings.Contains(ls, "up/data/") || strings.Contains(ls, "up/data/b.csv") {
		t.Fatalf("ls one level:\n%s", ls)
	}
	var all []struct {
		Path      string `json:"path"`
		SizeBytes int64  `json:"size_bytes"`
	}
	jsonOf(&all, "fs", "ls", "lakeq://cli-test/trunk/up/", "--recursive")
	if len(all) != 5 || all[0].Path != "up/a.txt" || all[4].Path != "up/tmp/e.txt" {
		t.Fatalf("recursive ls: %+v", all)
	}
	var st struct {
		Path        string `json:"path"`
		SizeBytes   int64  `json:"size_bytes"`
		ContentType string `json:"content_type"`
	}
	jsonOf(&st, "fs", "stat", "lakeq://cli-test/trunk/up/data/b.csv")
	if st.Path != "up/data/b.csv" || st.SizeBytes != 2 || !strings.Contains(st.ContentType, "csv") {
		t.Fatalf("stat: %+v", st)
	}
	lqFails("404", "fs", "stat", "lakeq://cli-test/trunk/missing")

	// Branch, remove things, and drop some of the removals again.
	lq("branch", "create", "lakeq://cli-test/work", "--source", "lakeq://cli-test/trunk")
	lqFails("different repositories", "branch", "create", "lakeq://cli-test/x", "--source", "lakeq://other/trunk")
	lq("fs", "rm", "lakeq://cli-test/work/up/a.txt")
	if out := lq("fs", "rm", "lakeq://cli-test/work/up/data/", "--recursive"); !strings.Contains(out, "Removed 3 objects") {
		t.Fatalf("rm -r: %s", out)
	}
	lq("fs", "rm", "lakeq://cli-test/work/up/tmp/e.txt")
	if d := lq("diff", "lakeq://cli-test/work"); strings.Count(d, "-  removed") != 5 {
		t.Fatalf("after rm, the uncommitted diff is:\n%s", d)
	}
	lq("branch", "reset", "lakeq://cli-test/work", "--object", "up/a.txt")
	lq("branch", "reset", "lakeq://cli-test/work", "--prefix", "up/data/")
	if d := lq("diff", "lakeq://cli-test/work"); strings.TrimSpace(d) != "-  removed  up/tmp/e.txt" {
		t.Fatalf("after resetting an object and a prefix, the diff is:\n%s", d)
	}
	lq("branch", "reset", "lakeq://cli-test/work")
	if d := lq("diff", "lakeq://cli-test/work"); strings.TrimSpace(d) != "" {
		t.Fatalf("after a full reset, the diff is:\n%s", d)
	}

	// A conflict fails the merge; a strategy resolves it.
	conflict := func(branch, content string) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "x")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		lq("fs", "upload", "lakeq://cli-test/"+branch+"/up/a.txt", "--source", p)
		lq("commit", "lakeq://cli-test/"+branch, "-m", "change a on "+branch)
	}
	conflict("work", "work's a\n")
	conflict("trunk", "trunk's a\n")
	lqFails("409", "merge", "lakeq://cli-test/work", "lakeq://cli-test/trunk")
	lqFails("--strategy", "merge", "lakeq://cli-test/work", "lakeq://cli-test/trunk", "--strategy", "mine")
	lq("merge", "lakeq://cli-test/work", "lakeq://cli-test/trunk", "--strategy", "source-wins", "-m", "take work's a")
	if got := lq("fs", "cat", "lakeq://cli-test/trunk/up/a.txt"); got != "work's a\n" {
		t.Fatalf("after a source-wins merge, a.txt is %q", got)
	}
	var log []struct {
		Message string `json:"message"`
	}
	jsonOf(&log, "log", "lakeq://cli-test/trunk", "--amount", "2")
	if len(log) != 2 || log[0].Message != "take work's a" {
		t.Fatalf("log --amount 2: %+v", log)
	}

	// Hard reset moves a branch back.
	lq("branch", "reset", "lakeq://cli-test/work", "--to", "lakeq://cli-test/work~1")
	if got := lq("fs", "cat", "lakeq://cli-test/work/up/a.txt"); got != "a\n" {
		t.Fatalf("after reset --to work~1, a.txt is %q", got)
	}

	// Deleting: not the default branch; the repository last.
	lqFails("default branch", "branch", "delete", "lakeq://cli-test/trunk")
	lq("branch", "delete", "lakeq://cli-test/work")
	if b := lq("branch", "list", "lakeq://cli-test"); strings.Contains(b, "work") {
		t.Fatalf("after delete, branches are:\n%s", b)
	}
	lq("repo", "delete", "lakeq://cli-test")
	var repos []any
	jsonOf(&repos, "repo", "list")
	if len(repos) != 0 {
		t.Fatalf("after delete, repositories are %v", repos)
	}
	lqFails("404", "log", "lakeq://cli-test/trunk")

	// Bad URIs are refused before anything is sent.
	lqFails("invalid uri", "fs", "cat", "lakeq://cli-test/trunk")
	lqFails("invalid uri", "repo", "delete", "s3://bucket/x")
	srv.stop(t, syscall.SIGTERM)
}
