package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// TestJobsCommands runs an import on `lakeq up`'s in-process workers and
// drives `lakeq jobs` list, show, watch and cancel against it.
func TestJobsCommands(t *testing.T) {
	src := t.TempDir()
	for i := range 40 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%4), fmt.Sprintf("f%02d.txt", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("object %d\n", i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	creds := []string{"LAKEQ_ACCESS_KEY_ID=" + walkKeyID, "LAKEQ_SECRET_ACCESS_KEY=" + walkSecret}
	srv := startServer(t, t.TempDir(), testEnv(t, append(append(freePortEnv, creds...), "LAKEQ_IMPORT_ALLOW="+src)...),
		upCommand(t, t.TempDir())...)
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

	lq("repo", "create", "lakeq://jobs-cli", "local://lakeq/jobs-cli/")
	out := lq("import", "--from", "local://"+src+"/", "--to", "lakeq://jobs-cli/main/in/")
	id := ""
	for _, f := range strings.Fields(out) {
		if jobs.ValidateID(storeJobID(f)) == nil {
			id = f
			break
		}
	}
	if id == "" {
		t.Fatalf("no job id in the import's output:\n%s", out)
	}

	// watch follows the job to its end, exiting 0 as it completed.
	watched := lq("jobs", "watch", id)
	for _, want := range []string{"submitted import job " + id, "started on ", "completed: 40", "result:"} {
		if !strings.Contains(watched, want) {
			t.Fatalf("jobs watch output lacks %q:\n%s", want, watched)
		}
	}
	// With --output json, one event per line, from submitted to completed.
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(lq("jobs", "watch", id, "-o", "json")), "\n") {
		var ev struct {
			Type    string `json:"type"`
			JobID   string `json:"job_id"`
			State   string `json:"state"`
			Attempt int    `json:"attempt"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("watch -o json line %q: %v", line, err)
		}
		if ev.JobID != id {
			t.Fatalf("event of job %q in the stream of %s", ev.JobID, id)
		}
		if ev.Type == "started" && ev.Attempt != 1 {
			t.Fatalf("started event without its attempt: %s", line)
		}
		types = append(types, ev.Type)
	}
	if types[0] != "submitted" || types[len(types)-1] != "completed" {
		t.Fatalf("event types %v", types)
	}

	var listed []struct {
		ID, Kind, State string
		Progress        struct {
			Done    int64 `json:"done"`
			Tasks   int64 `json:"tasks"`
			TasksOK int64 `json:"tasks_ok"`
		} `json:"progress"`
	}
	if err := json.Unmarshal([]byte(lq("jobs", "list", "lakeq://jobs-cli", "-o", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].ID != id || listed[0].Kind != "import" || listed[0].State != "COMPLETED" ||
		listed[0].Progress.Done != 40 || listed[0].Progress.TasksOK != listed[0].Progress.Tasks {
		t.Fatalf("jobs list: %+v", listed)
	}
	if table := lq("jobs", "list", "lakeq://jobs-cli", "--state", "completed"); !strings.Contains(table, id) || !strings.Contains(table, "COMPLETED") {
		t.Fatalf("jobs list --state completed:\n%s", table)
	}
	if table := lq("jobs", "list", "lakeq://jobs-cli", "--kind", "export"); strings.Contains(table, id) {
		t.Fatalf("jobs list --kind export lists the import:\n%s", table)
	}
	lqFails("400", "jobs", "list", "lakeq://jobs-cli", "--state", "bogus")
	lqFails("404", "jobs", "list", "lakeq://no-such-repo")

	show := lq("jobs", "show", id)
	for _, want := range []string{"State:", "COMPLETED", "Result:", "commit_id", "Attempts:"} {
		if !strings.Contains(show, want) {
			t.Fatalf("jobs show lacks %q:\n%s", want, show)
		}
	}
	var shown struct {
		State  string          `json:"state"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(lq("jobs", "show", id, "-o", "json")), &shown); err != nil || shown.State != "COMPLETED" {
		t.Fatalf("jobs show -o json: %+v, %v", shown, err)
	}
	lqFails("can no longer be canceled: job "+id+" is COMPLETED", "jobs", "cancel", id)
	unknown := string(jobs.NewID(time.Now()))
	lqFails("404", "jobs", "show", unknown)
	lqFails("404", "jobs", "cancel", unknown)
	lqFails("400", "jobs", "show", "not-a-job")
	srv.stop(t, syscall.SIGTERM)
}

// storeJobID converts a word of output to a job id to check.
func storeJobID(s string) store.JobID { return store.JobID(s) }
