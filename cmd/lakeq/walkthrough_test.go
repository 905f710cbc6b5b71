package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// Credentials the walk-through's server is started with, through the
// variables the README tells the reader to export.
const (
	walkKeyID  = "AKIAJWALKTHROUGH0001"
	walkSecret = "walkthrough-secret-0123456789abcdefghij"
)

// walkthroughSteps returns the commands of the README's code block marked
// <!-- walkthrough:NAME -->: one per line, continuation lines joined,
// comments and blank lines dropped.
func walkthroughSteps(t *testing.T, name string) []string {
	t.Helper()
	section := readmeSection(t, "walkthrough:"+name)
	_, code, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatalf("walkthrough:%s has no ```sh block", name)
	}
	code, _, ok = strings.Cut(code, "```")
	if !ok {
		t.Fatalf("walkthrough:%s: unterminated code block", name)
	}
	var steps []string
	var cur strings.Builder
	for _, line := range strings.Split(code, "\n") {
		if cur.Len() == 0 && (strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(line + "\n")
			continue
		}
		cur.WriteString(line)
		steps = append(steps, cur.String())
		cur.Reset()
	}
	if len(steps) == 0 {
		t.Fatalf("walkthrough:%s has no commands", name)
	}
	return steps
}

var stepMarker = regexp.MustCompile(`\n@@walkthrough-step \d+@@\n`)

// runSteps runs steps verbatim, in order, in one bash process (so that
// shell variables carry over) with `set -euo pipefail`, in dir with env. It
// returns each step's stdout; a failing step fails the test, naming it.
func runSteps(t *testing.T, steps []string, dir string, env []string) map[string]string {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, s := range steps {
		fmt.Fprintf(&script, "%s\nprintf '\\n@@walkthrough-step %d@@\\n'\n", s, i)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	chunks := stepMarker.Split(stdout.String(), -1)
	done := len(chunks) - 1 // steps that finished
	if err != nil {
		failed := "(after the last step)"
		if done < len(steps) {
			failed = steps[done]
		}
		t.Fatalf("step %d failed: %s\n%v\nstdout:\n%s\nstderr:\n%s", done+1, failed, err, chunks[done], stderr.String())
	}
	if done != len(steps) {
		t.Fatalf("%d of %d steps ran\nstdout:\n%s", done, len(steps), stdout.String())
	}
	out := make(map[string]string, len(steps))
	for i, s := range steps {
		out[s] = chunks[i]
		t.Logf("$ %s\n%s", s, chunks[i])
	}
	return out
}

// checkSteps applies each check to the output of the step it names; a
// step missing from the README fails the test, so that the README and its
// test do not drift apart.
func checkSteps(t *testing.T, outputs map[string]string, checks map[string]func(t *testing.T, out string)) {
	t.Helper()
	for step, check := range checks {
		out, ok := outputs[step]
		if !ok {
			t.Errorf("the README's walk-through has no step %q", step)
			continue
		}
		t.Run(step, func(t *testing.T) { check(t, out) })
	}
}

func contains(subs ...string) func(t *testing.T, out string) {
	return func(t *testing.T, out string) {
		t.Helper()
		for _, s := range subs {
			if !strings.Contains(out, s) {
				t.Errorf("output lacks %q:\n%s", s, out)
			}
		}
	}
}

func equals(want string) func(t *testing.T, out string) {
	return func(t *testing.T, out string) {
		t.Helper()
		if out != want {
			t.Errorf("output %q, want %q", out, want)
		}
	}
}

// startWalkthroughServer starts `lakeq up` with the walk-through's
// credentials and returns it with the environment the README's reader has:
// LAKEQ_ENDPOINT and the credentials exported.
func startWalkthroughServer(t *testing.T) (*server, []string) {
	t.Helper()
	creds := []string{"LAKEQ_ACCESS_KEY_ID=" + walkKeyID, "LAKEQ_SECRET_ACCESS_KEY=" + walkSecret}
	srv := startServer(t, t.TempDir(), testEnv(t, append(freePortEnv, creds...)...), upCommand(t, t.TempDir())...)
	if strings.Contains(srv.stdout.String()+srv.stderr.String(), walkSecret) {
		t.Fatal("lakeq up printed or logged the secret it was given")
	}
	return srv, testEnv(t, append(creds, "LAKEQ_ENDPOINT="+srv.endpoint)...)
}

// TestReadmeWalkthroughCLI runs the README's CLI walk-through verbatim
// against a real `lakeq up` process.
func TestReadmeWalkthroughCLI(t *testing.T) {
	srv, env := startWalkthroughServer(t)
	outputs := runSteps(t, walkthroughSteps(t, "cli"), t.TempDir(), env)
	checkSteps(t, outputs, map[string]func(*testing.T, string){
		"lakeq repo create lakeq://quickstart local://lakeq/quickstart/":       contains("lakeq://quickstart", "main"),
		"lakeq fs upload lakeq://quickstart/main/users.csv --source users.csv": contains("users.csv", "16 bytes"),
		"lakeq commit lakeq://quickstart/main -m \"Add users\"":                contains("Add users"),
		"lakeq diff lakeq://quickstart/dev":                                    contains("~", "changed", "users.csv"),
		"lakeq diff lakeq://quickstart/main lakeq://quickstart/dev":            contains("~", "changed", "users.csv"),
		"lakeq merge lakeq://quickstart/dev lakeq://quickstart/main":           contains("Merged lakeq://quickstart/dev into lakeq://quickstart/main"),
		"lakeq fs cat lakeq://quickstart/main/users.csv":                       equals("id,name\n1,alice\n2,bob\n"),
		"lakeq fs ls lakeq://quickstart/main/":                                 contains("users.csv", "22 B"),
		"lakeq branch list lakeq://quickstart":                                 contains("main", "dev"),
		"lakeq log lakeq://quickstart/main":                                    contains("Add bob", "Add users", "Repository created"),
	})

	// The same state, read back as JSON: main's head is the merge, whose
	// parents are main's previous head and dev's head.
	var log []struct {
		ID      string   `json:"id"`
		Parents []string `json:"parents"`
		Message string   `json:"message"`
	}
	if err := json.Unmarshal([]byte(runLakeq(t, env, "log", "lakeq://quickstart/main", "--output", "json")), &log); err != nil {
		t.Fatal(err)
	}
	var dev struct {
		CommitID string `json:"commit_id"`
	}
	var branches []struct {
		ID       string `json:"id"`
		CommitID string `json:"commit_id"`
	}
	if err := json.Unmarshal([]byte(runLakeq(t, env, "branch", "list", "lakeq://quickstart", "-o", "json")), &branches); err != nil {
		t.Fatal(err)
	}
	for _, b := range branches {
		if b.ID == "dev" {
			dev.CommitID = b.CommitID
		}
	}
	if len(log) < 4 || len(log[0].Parents) != 2 || log[0].Parents[1] != dev.CommitID {
		t.Fatalf("main's history %+v: want a merge commit whose second parent is dev's head %s", log, dev.CommitID)
	}
	srv.stop(t, syscall.SIGINT)
}

// TestReadmeWalkthroughCurl runs the README's curl walk-through verbatim
// against a real `lakeq up` process.
func TestReadmeWalkthroughCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	srv, env := startWalkthroughServer(t)
	outputs := runSteps(t, walkthroughSteps(t, "curl"), t.TempDir(), env)
	jsonHas := func(check func(t *testing.T, v map[string]any)) func(t *testing.T, out string) {
		return func(t *testing.T, out string) {
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("not a JSON object: %v\n%s", err, out)
			}
			check(t, v)
		}
	}
	const api = `"$api/repositories/curl-demo`
	checkSteps(t, outputs, map[string]func(*testing.T, string){
		"curl -fsS -u \"$auth\" -H 'Content-Type: application/json' \\\n" +
			"  -d '{\"name\": \"curl-demo\", \"storage_namespace\": \"local://lakeq/curl-demo/\"}' \\\n" +
			"  \"$api/repositories\"": jsonHas(func(t *testing.T, v map[string]any) {
			if v["id"] != "curl-demo" || v["default_branch"] != "main" {
				t.Errorf("created %v", v)
			}
		}),
		"curl -fsS -u \"$auth\" " + api + `/refs/main/diff/dev"`: jsonHas(func(t *testing.T, v map[string]any) {
			results, _ := v["results"].([]any)
			if len(results) != 1 {
				t.Fatalf("diff %v: want one change", v)
			}
			d, _ := results[0].(map[string]any)
			if d["path"] != "users.csv" || d["type"] != "changed" {
				t.Errorf("diff %v: want users.csv changed", d)
			}
		}),
		"curl -fsS -u \"$auth\" -H 'Content-Type: application/json' -d '{\"message\": \"Merge dev\"}' \\\n" +
			"  " + api + `/refs/dev/merge/main"`: jsonHas(func(t *testing.T, v map[string]any) {
			if ref, _ := v["reference"].(string); len(ref) != 64 {
				t.Errorf("merge answered %v: want the new commit id as reference", v)
			}
		}),
		"curl -fsS -u \"$auth\" " + api + `/refs/main/objects?path=users.csv"`: equals("id,name\n1,alice\n2,bob\n"),
	})
	// The CLI sees what curl did.
	log := runLakeq(t, env, "log", "lakeq://curl-demo/main")
	for _, msg := range []string{"Merge dev", "Add bob", "Add users"} {
		if !strings.Contains(log, msg) {
			t.Errorf("lakeq log lacks %q:\n%s", msg, log)
		}
	}
	srv.stop(t, syscall.SIGTERM)
}
