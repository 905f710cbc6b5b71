package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// clearLakeqEnv unsets every LAKEQ_ variable for the test, so that the
// caller's environment does not leak in.
func clearLakeqEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) {
			t.Setenv(name, "") // restores the old value at the end
			os.Unsetenv(name)
		}
	}
}

// execute runs the lakeq command line args in-process and returns its
// stdout.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"listen":               "LAKEQ_LISTEN",
		"data-dir":             "LAKEQ_DATA_DIR",
		"redis-url":            "LAKEQ_REDIS_URL",
		"s3-secret-access-key": "LAKEQ_S3_SECRET_ACCESS_KEY",
		"import-allow":         "LAKEQ_IMPORT_ALLOW",
	}
	for flag, want := range tests {
		t.Run(flag, func(t *testing.T) {
			if got := envName(flag); got != want {
				t.Fatalf("envName(%q) = %q, want %q", flag, got, want)
			}
		})
	}
}

// TestEveryFlagDocumentsItsEnv walks the whole command tree: every flag but
// help and version names its variable in its usage.
func TestEveryFlagDocumentsItsEnv(t *testing.T) {
	var walk func(cmd *cobra.Command)
	n := 0
	walk = func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if skipEnv[f.Name] {
				return
			}
			n++
			if want := "[$" + envName(f.Name) + "]"; !strings.Contains(f.Usage, want) {
				t.Errorf("%s --%s: usage %q does not mention %s", cmd.CommandPath(), f.Name, f.Usage, want)
			}
		})
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	if n < 30 {
		t.Fatalf("only %d flags found in the command tree", n)
	}
}

func TestConfigPrecedence(t *testing.T) {
	clearLakeqEnv(t)
	path := filepath.Join(t.TempDir(), "lakeq.yaml")
	t.Setenv("LAKEQ_CONFIG", path)
	t.Setenv("LAKEQ_ENDPOINT", "http://env.example:8000")
	t.Setenv("LAKEQ_ACCESS_KEY_ID", "ENVKEY")
	out, err := execute(t, "config", "--access-key-id", "FLAGKEY", "--secret-access-key", "flag-secret")
	if err != nil {
		t.Fatalf("lakeq config: %v\n%s", err, out)
	}
	if !strings.Contains(out, path) {
		t.Fatalf("lakeq config printed %q, want the file's path", out)
	}
	var got fileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Endpoint != "http://env.example:8000" || got.Credentials.AccessKeyID != "FLAGKEY" || got.Credentials.SecretAccessKey != "flag-secret" {
		t.Fatalf("config file holds %+v: want the endpoint from the environment and the key from the flag", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode: %v, %v; want 0600", fi.Mode(), err)
	}

	// A second run merges over the file: only what is given changes.
	os.Unsetenv("LAKEQ_ACCESS_KEY_ID")
	if out, err := execute(t, "config", "--endpoint", "http://flag.example:9000"); err != nil {
		t.Fatalf("lakeq config: %v\n%s", err, out)
	}
	c, err := readConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "http://flag.example:9000" || c.Credentials.AccessKeyID != "FLAGKEY" {
		t.Fatalf("after the merge the file holds %+v", c)
	}
}

// clientEndpoint resolves the endpoint a client command would call, from
// args, the environment and the configuration file: it runs `repo list`
// with its action replaced by building the client.
func clientEndpoint(t *testing.T, args ...string) (string, error) {
	t.Helper()
	g := &globals{}
	root := newRootCmdWith(g)
	list, _, err := root.Find([]string{"repo", "list"})
	if err != nil {
		t.Fatal(err)
	}
	var resolved string
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := g.client(cmd)
		if err != nil {
			return err
		}
		resolved = cl.Endpoint()
		return nil
	}
	root.SetArgs(append([]string{"repo", "list"}, args...))
	root.SetOut(&bytes.Buffer{})
	err = root.Execute()
	return resolved, err
}

func TestClientSettingsPrecedence(t *testing.T) {
	clearLakeqEnv(t)
	path := filepath.Join(t.TempDir(), "lakeq.yaml")
	var c fileConfig
	c.Endpoint = "http://file.example:1"
	if err := writeConfigFile(path, c); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LAKEQ_CONFIG", path)

	got, err := clientEndpoint(t)
	if err != nil || got != "http://file.example:1/api/v1" {
		t.Fatalf("from the file: %q, %v", got, err)
	}
	t.Setenv("LAKEQ_ENDPOINT", "http://env.example:2/")
	got, err = clientEndpoint(t)
	if err != nil || got != "http://env.example:2/api/v1" {
		t.Fatalf("environment over file: %q, %v", got, err)
	}
	got, err = clientEndpoint(t, "--endpoint", "http://flag.example:3/api/v1")
	if err != nil || got != "http://flag.example:3/api/v1" {
		t.Fatalf("flag over environment: %q, %v", got, err)
	}
}

func TestBadEnvValue(t *testing.T) {
	clearLakeqEnv(t)
	tests := []struct {
		name, env, value string
		args             []string
	}{
		{"output", "LAKEQ_OUTPUT", "xml", []string{"repo", "list"}},
		{"int flag", "LAKEQ_PARALLELISM", "many", []string{"fs", "upload", "lakeq://repo/main/x", "--source", "x"}},
		{"bool flag", "LAKEQ_RECURSIVE", "perhaps", []string{"fs", "ls", "lakeq://repo/main/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			_, err := execute(t, tt.args...)
			if err == nil {
				t.Fatalf("%s=%s: no error", tt.env, tt.value)
			}
			if tt.env != "LAKEQ_OUTPUT" && !strings.Contains(err.Error(), tt.env) {
				t.Fatalf("error %q does not name %s", err, tt.env)
			}
		})
	}
}

func TestEnvSatisfiesRequiredFlag(t *testing.T) {
	clearLakeqEnv(t)
	// --source is required; from the environment it counts as given, so
	// the command gets as far as checking its URI argument.
	t.Setenv("LAKEQ_SOURCE", "file.txt")
	_, err := execute(t, "fs", "upload", "not-a-uri")
	if err == nil || strings.Contains(err.Error(), "required flag") {
		t.Fatalf("got %v, want a URI error, not a missing flag", err)
	}
	if !strings.Contains(err.Error(), "invalid uri") {
		t.Fatalf("got %v, want an invalid uri error", err)
	}
}
