package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRounds(t *testing.T) {
	tests := []struct {
		in      []string
		want    string
		wantErr bool
	}{
		{nil, "[]", false},
		{[]string{`(^|/)_SUCCESS$=1`}, `[{(^|/)_SUCCESS$ 1}]`, false},
		{[]string{`a=b=2`, `x=0`}, `[{a=b 2} {x 0}]`, false},
		{[]string{`=1`}, "", true},
		{[]string{`abc`}, "", true},
		{[]string{`abc=-1`}, "", true},
		{[]string{`abc=x`}, "", true},
	}
	for _, tt := range tests {
		got, err := parseRounds(tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("parseRounds(%q) error %v, want error %v", tt.in, err, tt.wantErr)
		}
		if err == nil {
			s := "["
			for i, r := range got {
				if i > 0 {
					s += " "
				}
				s += "{" + r.Pattern + " " + string(rune('0'+r.Round)) + "}"
			}
			if s+"]" != tt.want {
				t.Fatalf("parseRounds(%q) = %s, want %s", tt.in, s+"]", tt.want)
			}
		}
	}
}

// TestCLIExport exports a branch from a real `lakeq up` to its local
// blockstore with --wait, then its next commit as a diff, and manages a
// continuous-export rule.
func TestCLIExport(t *testing.T) {
	dataDir := t.TempDir()
	creds := []string{"LAKEQ_ACCESS_KEY_ID=" + walkKeyID, "LAKEQ_SECRET_ACCESS_KEY=" + walkSecret}
	srv := startServer(t, t.TempDir(), testEnv(t, append(freePortEnv, creds...)...), upCommand(t, dataDir)...)
	env := testEnv(t, append(creds, "LAKEQ_ENDPOINT="+srv.endpoint)...)
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

	src := t.TempDir()
	for name, content := range map[string]string{
		"table/part-0.csv": "a\n", "table/part-1.csv": "b\n", "table/_SUCCESS": "",
	} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lq("repo", "create", "lakeq://exp", "local://lakeq/exp/")
	lq("fs", "upload", "lakeq://exp/main/", "--source", src, "--recursive")
	lq("commit", "lakeq://exp/main", "-m", "tables")
	var log []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(lq("log", "lakeq://exp/main", "-o", "json")), &log); err != nil || len(log) == 0 {
		t.Fatalf("log: %v %v", log, err)
	}
	first := log[0].ID

	out := lq("export", "lakeq://exp/main", "local://lakeq/exports/exp/", "--wait")
	if !strings.Contains(out, "Copied 3 objects") || !strings.Contains(out, "EXPORT_"+first) {
		t.Fatalf("export output:\n%s", out)
	}
	exported := filepath.Join(dataDir, "blocks", "lakeq", "exports", "exp")
	files := listFiles(t, exported)
	if !slices.Contains(files, "table/part-1.csv") || !slices.Contains(files, "table/_SUCCESS") || len(files) != 4 {
		t.Fatalf("exported files %v", files)
	}

	// The next commit, as a diff.
	if err := os.WriteFile(filepath.Join(src, "new.csv"), []byte("c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lq("fs", "upload", "lakeq://exp/main/table/part-2.csv", "--source", filepath.Join(src, "new.csv"))
	lq("fs", "rm", "lakeq://exp/main/table/part-0.csv")
	lq("commit", "lakeq://exp/main", "-m", "change")
	var job struct {
		State  string `json:"state"`
		Result struct {
			Copied     int    `json:"copied"`
			Deleted    int    `json:"deleted"`
			StatusFile string `json:"status_file"`
		} `json:"result"`
	}
	raw := lq("export", "lakeq://exp/main", "local://lakeq/exports/exp/", "--prev-commit", first, "--wait", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		t.Fatalf("export -o json: %v\n%s", err, raw)
	}
	if job.State != "COMPLETED" || job.Result.Copied != 1 || job.Result.Deleted != 1 {
		t.Fatalf("diff export: %s", raw)
	}
	files = listFiles(t, exported)
	if slices.Contains(files, "table/part-0.csv") || !slices.Contains(files, "table/part-2.csv") || len(files) != 5 {
		t.Fatalf("files after the diff export %v", files)
	}

	// Without --wait: the job id, then its status.
	var submitted struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(lq("export", "lakeq://exp/main", "local://lakeq/exports/again/", "-o", "json")), &submitted); err != nil || submitted.ID == "" {
		t.Fatalf("export without --wait: %v", err)
	}
	if out := lq("export", "status", submitted.ID, "--wait"); !strings.Contains(out, "Copied 3 objects") {
		t.Fatalf("export status --wait:\n%s", out)
	}
	// Its export_status event carries the result as data.
	statusFile := ""
	for _, line := range strings.Split(strings.TrimSpace(lq("jobs", "watch", submitted.ID, "-o", "json")), "\n") {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				StatusFile string `json:"status_file"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("jobs watch -o json line %q: %v", line, err)
		}
		if ev.Type == "export_status" {
			statusFile = ev.Data.StatusFile
		}
	}
	if !strings.Contains(statusFile, "EXPORT_") {
		t.Fatalf("jobs watch -o json of the export: no export_status event with its status file")
	}

	lqFails("404", "export", "lakeq://exp/no-such-branch", "local://lakeq/exports/x/")
	lqFails("404", "export", "lakeq://exp/main", "local://lakeq/exports/x/", "--prev-commit", strings.Repeat("0", 64))
	lqFails("does not exist", "export", "lakeq://exp/main", "local://no-such-bucket/x/")
	lqFails("scheme", "export", "lakeq://exp/main", "ftp://x/y/")
	lqFails("PATTERN=N", "export", "lakeq://exp/main", "local://lakeq/x/", "--round", "nonumber")

	// A continuous-export rule.
	if out := lq("export", "rule", "set", "lakeq://exp/main", "local://lakeq/mirror/exp/"); !strings.Contains(out, "local://lakeq/mirror/exp/") {
		t.Fatalf("rule set:\n%s", out)
	}
	if out := lq("export", "rule", "get", "lakeq://exp/main"); !strings.Contains(out, "Last exported") {
		t.Fatalf("rule get:\n%s", out)
	}
	// The next commit of main reaches the rule's destination by itself.
	lq("fs", "upload", "lakeq://exp/main/table/part-3.csv", "--source", filepath.Join(src, "new.csv"))
	lq("commit", "lakeq://exp/main", "-m", "continuous")
	if err := json.Unmarshal([]byte(lq("log", "lakeq://exp/main", "-o", "json")), &log); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var rule struct {
			LastExported string `json:"last_exported"`
			LastError    string `json:"last_error"`
		}
		if err := json.Unmarshal([]byte(lq("export", "rule", "get", "lakeq://exp/main", "-o", "json")), &rule); err != nil {
			t.Fatal(err)
		}
		if rule.LastExported == log[0].ID {
			break
		}
		if rule.LastError != "" || time.Now().After(deadline) {
			t.Fatalf("rule %+v, want it at %s", rule, log[0].ID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if files := listFiles(t, filepath.Join(dataDir, "blocks", "lakeq", "mirror", "exp")); len(files) != 2 || files[1] != "table/part-3.csv" {
		t.Fatalf("continuous export wrote %v, want the new object and a status file", files)
	}
	lq("export", "rule", "delete", "lakeq://exp/main")
	lqFails("no export rule", "export", "rule", "get", "lakeq://exp/main")
}

// listFiles returns the files under dir, as slash paths relative to it.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
