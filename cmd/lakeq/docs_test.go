package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// repoRoot is the repository's top directory, from this package's.
const repoRoot = "../.."

// readmeSection returns the text between <!-- name --> and <!-- /name -->
// in README.md.
func readmeSection(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- "+name+" -->")
	if !ok {
		t.Fatalf("README.md has no <!-- %s --> marker", name)
	}
	section, _, ok := strings.Cut(rest, "<!-- /"+name+" -->")
	if !ok {
		t.Fatalf("README.md has no <!-- /%s --> marker", name)
	}
	return section
}

// findCmd returns the subcommand of root at path.
func findCmd(t *testing.T, root *cobra.Command, path ...string) *cobra.Command {
	t.Helper()
	c, _, err := root.Find(path)
	if err != nil || c == root {
		t.Fatalf("no command %q: %v", path, err)
	}
	return c
}

// configRow is one row of the README's configuration table.
type configRow struct {
	flag, env, def, commands string
}

var backticked = regexp.MustCompile("^`([^`]*)`")

func parseConfigTable(t *testing.T) []configRow {
	t.Helper()
	var rows []configRow
	for _, line := range strings.Split(readmeSection(t, "config:table"), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 5 {
			t.Fatalf("table row %q: want 5 cells", line)
		}
		cell := func(i int) string {
			c := strings.TrimSpace(cells[i])
			if m := backticked.FindStringSubmatch(c); m != nil {
				return m[1]
			}
			return c
		}
		rows = append(rows, configRow{
			flag: strings.TrimPrefix(cell(0), "--"), env: cell(1), def: cell(2), commands: cell(3),
		})
	}
	if len(rows) == 0 {
		t.Fatal("the README's configuration table has no rows")
	}
	return rows
}

// TestReadmeConfigTable checks the README's configuration table against the
// real flags: every row names a flag of the commands it lists with its
// variable and default, and every server and global flag has a row.
func TestReadmeConfigTable(t *testing.T) {
	root := newRootCmd()
	rows := parseConfigTable(t)
	listed := map[string]bool{}
	for _, r := range rows {
		t.Run(r.flag, func(t *testing.T) {
			listed[r.flag] = true
			if r.env != envName(r.flag) {
				t.Errorf("environment %q, want %q", r.env, envName(r.flag))
			}
			var flags []*pflag.Flag
			switch r.commands {
			case "client", "all":
				flags = append(flags, root.PersistentFlags().Lookup(r.flag))
			default:
				for _, name := range strings.Split(r.commands, ",") {
					c := findCmd(t, root, strings.TrimSpace(name))
					flags = append(flags, c.Flags().Lookup(r.flag))
				}
			}
			for _, f := range flags {
				if f == nil {
					t.Fatalf("no flag --%s on %s", r.flag, r.commands)
				}
				def := f.DefValue
				switch {
				case def == "" || def == "[]":
					def = "none"
				case r.flag == "config":
					def = "~/" + configFileName
				}
				if got := strings.TrimSuffix(r.def, " (required)"); got != def {
					t.Errorf("default %q, want %q", r.def, def)
				}
			}
		})
	}
	check := func(fs *pflag.FlagSet, where string) {
		fs.VisitAll(func(f *pflag.Flag) {
			if !skipEnv[f.Name] && !listed[f.Name] {
				t.Errorf("flag --%s of %s is missing from the README's configuration table", f.Name, where)
			}
		})
	}
	check(root.PersistentFlags(), "lakeq")
	for _, role := range serverRoles {
		check(findCmd(t, root, role).LocalFlags(), "lakeq "+role)
	}
}

// serverRoles are the commands that run a server process; the README's
// configuration table lists all their flags.
var serverRoles = []string{"up", "api", "worker"}

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Deploy      struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"deploy"`
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	} `yaml:"services"`
}

// TestComposeFile parses deploy/docker-compose.yml and checks the stack it
// describes: NATS with JetStream, Redis with AOF, MinIO, one API and two
// workers, configured only through variables that `lakeq api` and
// `lakeq worker` read.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	for _, name := range []string{"nats", "redis", "minio", "api", "worker"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("no service %q", name)
		}
	}
	if cmd := c.Services["nats"].Command; !slices.Contains(cmd, "-js") {
		t.Errorf("nats runs %q, without -js", cmd)
	}
	if cmd := strings.Join(c.Services["redis"].Command, " "); !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis runs %q, without --appendonly yes", cmd)
	}
	if cmd := c.Services["api"].Command; !slices.Equal(cmd, []string{"api"}) {
		t.Errorf("api service runs %q", cmd)
	}
	w := c.Services["worker"]
	if !slices.Equal(w.Command, []string{"worker"}) || w.Deploy.Replicas != 2 {
		t.Errorf("worker service runs %q with %d replicas, want worker ×2", w.Command, w.Deploy.Replicas)
	}

	// Every variable the API and the workers get names one of their flags.
	root := newRootCmd()
	for _, role := range []string{"api", "worker"} {
		known := map[string]bool{}
		findCmd(t, root, role).Flags().VisitAll(func(f *pflag.Flag) { known[envName(f.Name)] = true })
		for name := range c.Services[role].Environment {
			if !known[name] {
				t.Errorf("%s service sets %s, which is no flag of lakeq %s", role, name, role)
			}
		}
	}

	// The image is built from this repository by deploy/Dockerfile.
	for _, name := range []string{"api", "worker"} {
		bld := c.Services[name].Build
		df := filepath.Join(repoRoot, "deploy", bld.Context, bld.Dockerfile)
		if _, err := os.Stat(df); err != nil {
			t.Errorf("service %s builds with %s: %v", name, df, err)
		}
	}
	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(dockerfile), "\nFROM "); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", n)
	}
	if !strings.Contains(string(dockerfile), "./cmd/lakeq") {
		t.Error("Dockerfile does not build ./cmd/lakeq")
	}
}
