package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestImportAllow starts `lakeq up` with LAKEQ_IMPORT_ALLOW naming two
// directories: local:/// URIs under them resolve (here, as a repository's
// storage namespace, whose files then land in that directory), and URIs
// outside them are refused.
func TestImportAllow(t *testing.T) {
	allowedA, allowedB, outside := t.TempDir(), t.TempDir(), t.TempDir()
	creds := []string{"LAKEQ_ACCESS_KEY_ID=" + walkKeyID, "LAKEQ_SECRET_ACCESS_KEY=" + walkSecret}
	serverEnv := testEnv(t, append(append(freePortEnv, creds...), "LAKEQ_IMPORT_ALLOW="+allowedA+","+allowedB)...)
	srv := startServer(t, t.TempDir(), serverEnv, upCommand(t, t.TempDir())...)
	env := testEnv(t, append(creds, "LAKEQ_ENDPOINT="+srv.endpoint)...)

	runLakeq(t, env, "repo", "create", "lakeq://in-root", "local://"+allowedB+"/ns/")
	src := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(src, []byte("under an allowed root\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runLakeq(t, env, "fs", "upload", "lakeq://in-root/main/f.txt", "--source", src)
	runLakeq(t, env, "commit", "lakeq://in-root/main", "-m", "into an allowed root")
	if got := runLakeq(t, env, "fs", "cat", "lakeq://in-root/main/f.txt"); got != "under an allowed root\n" {
		t.Fatalf("read back %q", got)
	}
	if entries, err := os.ReadDir(filepath.Join(allowedB, "ns")); err != nil || len(entries) == 0 {
		t.Fatalf("nothing was written under the allowed root %s/ns: %v", allowedB, err)
	}

	_, err := runLakeqErr(t, env, "repo", "create", "lakeq://outside", "local://"+outside+"/ns/")
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a namespace outside the allowed roots: %v, want 400", err)
	}
	srv.stop(t, syscall.SIGTERM)
}
