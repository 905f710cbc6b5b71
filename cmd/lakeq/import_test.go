package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// TestImportLocation checks what each --from becomes: a prefix for a
// source ending in "/" (or a whole bucket), one object otherwise, landing
// under --to's path when it is a directory.
func TestImportLocation(t *testing.T) {
	tests := []struct {
		from, dest string
		want       client.ImportLocation
	}{
		{"s3://raw-data/events/2026/", "events/", client.ImportLocation{Type: client.ImportCommonPrefix, Path: "s3://raw-data/events/2026/", Destination: "events/"}},
		{"s3://raw-data/events/2026/", "", client.ImportLocation{Type: client.ImportCommonPrefix, Path: "s3://raw-data/events/2026/", Destination: ""}},
		{"s3://raw-data", "all/", client.ImportLocation{Type: client.ImportCommonPrefix, Path: "s3://raw-data", Destination: "all/"}},
		{"s3://raw-data/", "all/", client.ImportLocation{Type: client.ImportCommonPrefix, Path: "s3://raw-data/", Destination: "all/"}},
		{"local:///mnt/exports/day1/", "day1/", client.ImportLocation{Type: client.ImportCommonPrefix, Path: "local:///mnt/exports/day1/", Destination: "day1/"}},
		{"s3://raw-data/users.parquet", "users/", client.ImportLocation{Type: client.ImportObject, Path: "s3://raw-data/users.parquet", Destination: "users/users.parquet"}},
		{"s3://raw-data/crm/users.parquet", "tables/users.parquet", client.ImportLocation{Type: client.ImportObject, Path: "s3://raw-data/crm/users.parquet", Destination: "tables/users.parquet"}},
		{"s3://raw-data/crm/users.parquet", "", client.ImportLocation{Type: client.ImportObject, Path: "s3://raw-data/crm/users.parquet", Destination: "users.parquet"}},
		{"local:///mnt/exports/day1.csv", "in/", client.ImportLocation{Type: client.ImportObject, Path: "local:///mnt/exports/day1.csv", Destination: "in/day1.csv"}},
		{"local://lakeq/x/y", "z", client.ImportLocation{Type: client.ImportObject, Path: "local://lakeq/x/y", Destination: "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.from+" to "+tt.dest, func(t *testing.T) {
			got, err := importLocation(tt.from, tt.dest)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("importLocation(%q, %q) = %+v, want %+v", tt.from, tt.dest, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"s3:/bad", "ftp://x/y", "raw-data/users.parquet"} {
		if got, err := importLocation(bad, "x/"); err == nil {
			t.Errorf("importLocation(%q) = %+v, want an error", bad, got)
		}
	}
}

// TestCLIImport imports a local directory (under --import-allow) into a
// real `lakeq up` with `lakeq import --wait`, then again without --wait
// followed by `import status --wait`, and checks the refusals.
func TestCLIImport(t *testing.T) {
	allowed := t.TempDir()
	creds := []string{"LAKEQ_ACCESS_KEY_ID=" + walkKeyID, "LAKEQ_SECRET_ACCESS_KEY=" + walkSecret}
	serverEnv := testEnv(t, append(append(freePortEnv, creds...), "LAKEQ_IMPORT_ALLOW="+allowed)...)
	srv := startServer(t, t.TempDir(), serverEnv, upCommand(t, t.TempDir())...)
	env := testEnv(t, append(creds, "LAKEQ_ENDPOINT="+srv.endpoint)...)
	lq := func(args ...string) string { t.Helper(); return runLakeq(t, env, args...) }

	files := map[string]string{
		"raw/a.csv": "1\n", "raw/2026/b.csv": "2\n", "raw/2026/c d+e%.csv": "3\n",
		"crm/users.parquet": "users\n", "crm/users.parquet.crc": "crc\n",
	}
	for name, content := range files {
		p := filepath.Join(allowed, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lq("repo", "create", "lakeq://imp", "local://lakeq/imp/")
	src := "local://" + allowed + "/raw/"
	out := lq("import", "--from", src, "--to", "lakeq://imp/main/tables/", "-m", "raw files", "--meta", "origin=disk", "--wait")
	if !strings.Contains(out, "Imported 3 objects") || !strings.Contains(out, "raw files") {
		t.Fatalf("import output:\n%s", out)
	}
	if got := lq("fs", "cat", "lakeq://imp/main/tables/2026/c d+e%.csv"); got != "3\n" {
		t.Fatalf("read %q through the branch", got)
	}
	var log []struct {
		Message  string            `json:"message"`
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(lq("log", "lakeq://imp/main", "-o", "json")), &log); err != nil {
		t.Fatal(err)
	}
	if log[0].Message != "raw files" || log[0].Metadata["origin"] != "disk" || log[0].Metadata["lakeq.job_id"] == "" {
		t.Fatalf("import commit %+v", log[0])
	}

	// A source that does not end in "/" is one object: it lands under a
	// --to ending in "/" with its base name, or at --to's exact path, and
	// its siblings sharing its name as a prefix stay out.
	users := "local://" + allowed + "/crm/users.parquet"
	if out := lq("import", "--from", users, "--to", "lakeq://imp/main/users/", "--wait"); !strings.Contains(out, "Imported 1 objects") {
		t.Fatalf("object import output:\n%s", out)
	}
	lq("import", "--from", users, "--to", "lakeq://imp/main/tables/users.parquet", "--wait")
	var entries []struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal([]byte(lq("fs", "ls", "lakeq://imp/main/", "--recursive", "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range entries {
		paths = append(paths, e.Path)
	}
	if want := []string{"tables/2026/b.csv", "tables/2026/c d+e%.csv", "tables/a.csv", "tables/users.parquet", "users/users.parquet"}; !slices.Equal(paths, want) {
		t.Fatalf("entries after the object imports %q, want %q", paths, want)
	}
	if got := lq("fs", "cat", "lakeq://imp/main/users/users.parquet"); got != "users\n" {
		t.Fatalf("read %q through the branch", got)
	}

	// Without --wait: the id, then the status.
	var sub struct{ ID string }
	if err := json.Unmarshal([]byte(lq("import", "--from", src+"2026/", "--to", "lakeq://imp/main/again/", "-o", "json")), &sub); err != nil || sub.ID == "" {
		t.Fatalf("import -o json: %+v %v", sub, err)
	}
	var st struct {
		Completed       bool  `json:"completed"`
		IngestedObjects int64 `json:"ingested_objects"`
	}
	if err := json.Unmarshal([]byte(lq("import", "status", "lakeq://imp/main", sub.ID, "--wait", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Completed || st.IngestedObjects != 2 {
		t.Fatalf("status %+v", st)
	}
	if out, err := runLakeqErr(t, env, "import", "cancel", "lakeq://imp/main", sub.ID); err == nil || !strings.Contains(err.Error(), "finished") {
		t.Fatalf("cancel of a finished import: %v\n%s", err, out)
	}

	// Refused before anything is queued.
	for _, tc := range []struct{ from, to, want string }{
		{"local:///etc/", "lakeq://imp/main/x/", "outside"},
		{"s3:/bad", "lakeq://imp/main/x/", "invalid uri"},
		{src, "lakeq://imp/nope/x/", "404"},
	} {
		out, err := runLakeqErr(t, env, "import", "--from", tc.from, "--to", tc.to)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("import --from %s --to %s: %v (%s); want %q", tc.from, tc.to, err, out, tc.want)
		}
	}
}
