package broker

import (
	"errors"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
)

func TestQueueSubjects(t *testing.T) {
	tests := []struct {
		name    string
		queue   Queue
		kind    string
		subject string
		durable string
		stream  string
	}{
		{"job", Jobs, "import", "lakeq.jobs.import", "jobs-import", StreamJobs},
		{"task", Tasks, "export-range", "lakeq.tasks.export-range", "tasks-export-range", StreamTasks},
		{"digit kind", Jobs, "gc2", "lakeq.jobs.gc2", "jobs-gc2", StreamJobs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.queue.Subject(tt.kind)
			if err != nil || s != tt.subject {
				t.Fatalf("Subject = %q, %v; want %q", s, err, tt.subject)
			}
			d, err := tt.queue.Durable(tt.kind)
			if err != nil || d != tt.durable {
				t.Fatalf("Durable = %q, %v; want %q", d, err, tt.durable)
			}
			if tt.queue.Stream() != tt.stream {
				t.Fatalf("Stream = %q, want %q", tt.queue.Stream(), tt.stream)
			}
		})
	}
	if s, err := JobSubject("gc"); err != nil || s != "lakeq.jobs.gc" {
		t.Fatalf("JobSubject = %q, %v", s, err)
	}
	if s, err := TaskSubject("gc-sweep"); err != nil || s != "lakeq.tasks.gc-sweep" {
		t.Fatalf("TaskSubject = %q, %v", s, err)
	}
}

func TestInvalidKindsAndQueues(t *testing.T) {
	kinds := []string{"", "Import", "im.port", "im*", "im>", "im port", "-import", "import\n", "im_port", strings.Repeat("a", 64)}
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) {
			if _, err := JobSubject(k); !errors.Is(err, ErrInvalidSubject) {
				t.Fatalf("JobSubject(%q) = %v, want ErrInvalidSubject", k, err)
			}
			if _, err := Tasks.Durable(k); !errors.Is(err, ErrInvalidSubject) {
				t.Fatalf("Durable(%q) = %v, want ErrInvalidSubject", k, err)
			}
		})
	}
	if _, err := Queue("events").Subject("import"); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("unknown queue accepted: %v", err)
	}
}

func TestEventSubject(t *testing.T) {
	id := store.JobID("01JD0000000000000000000000")
	tests := []struct {
		name  string
		repo  store.RepoID
		kind  string
		jobID store.JobID
		want  string
	}{
		{"ok", "my-repo", "import", id, "lakeq.events.my-repo.import." + string(id)},
		{"xid job id", "repo1", "gc", "cs3hq5rh6c2e2bq4c5mg", "lakeq.events.repo1.gc.cs3hq5rh6c2e2bq4c5mg"},
		{"dot in repo", "my.repo", "import", id, ""},
		{"star in repo", "rep*", "import", id, ""},
		{"short repo", "ab", "import", id, ""},
		{"dot in kind", "repo", "im.port", id, ""},
		{"gt in job id", "repo", "import", "01J>", ""},
		{"dot in job id", "repo", "import", "01J.X", ""},
		{"space in job id", "repo", "import", "01J X", ""},
		{"empty job id", "repo", "import", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EventSubject(tt.repo, tt.kind, tt.jobID)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidSubject) || !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("EventSubject = %q, %v; want ErrInvalidSubject", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("EventSubject = %q, %v; want %q", got, err, tt.want)
			}
			if err := ValidateEventSubject(got); err != nil {
				t.Fatalf("ValidateEventSubject(%q): %v", got, err)
			}
		})
	}
}

func TestEventFilter(t *testing.T) {
	tests := []struct {
		name  string
		repo  store.RepoID
		kind  string
		jobID store.JobID
		want  string
	}{
		{"all", "", "", "", "lakeq.events.*.*.*"},
		{"one job", "", "", "01JD", "lakeq.events.*.*.01JD"},
		{"one repo", "repo", "", "", "lakeq.events.repo.*.*"},
		{"repo and kind", "repo", "gc", "", "lakeq.events.repo.gc.*"},
		{"bad kind", "", "G C", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EventFilter(tt.repo, tt.kind, tt.jobID)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidSubject) {
					t.Fatalf("EventFilter = %q, %v; want ErrInvalidSubject", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("EventFilter = %q, %v; want %q", got, err, tt.want)
			}
			if err := ValidateEventFilter(got); err != nil {
				t.Fatalf("ValidateEventFilter(%q): %v", got, err)
			}
			if err := ValidateEventSubject(got); err == nil && strings.Contains(got, "*") {
				t.Fatalf("ValidateEventSubject accepted wildcard %q", got)
			}
		})
	}
}

func TestValidateEventFilter(t *testing.T) {
	tests := []struct {
		filter string
		ok     bool
	}{
		{"lakeq.events.>", true},
		{"lakeq.events.repo.>", true},
		{"lakeq.events.repo.import.>", true},
		{"lakeq.events.*.*.01JD", true},
		{"lakeq.events.repo.import.01JD", true},
		{"lakeq.events", false},
		{"lakeq.events.", false},
		{"lakeq.jobs.import", false},
		{"lakeq.events.repo", false},
		{"lakeq.events.>.import.01JD", false},
		{"lakeq.events.repo.import.01JD.extra", false},
		{"lakeq.events.repo.import.01JD.>", false},
		{"lakeq.events.repo..01JD", false},
		{"lakeq.events.Repo.import.01JD", false},
		{"lakeq.events.repo.import.01 JD", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			err := ValidateEventFilter(tt.filter)
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateEventFilter(%q) = %v, want ok=%v", tt.filter, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidSubject) {
				t.Fatalf("error %v does not wrap ErrInvalidSubject", err)
			}
		})
	}
}

func TestValidateMsgID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"01JD0000000000000000000000", true},
		{"job-1/shard-0003", true},
		{"", false},
		{"a b", false},
		{"a\r\nb", false},
		{"é", false},
		{strings.Repeat("x", 256), true},
		{strings.Repeat("x", 257), false},
	}
	for _, tt := range tests {
		if err := validateMsgID(tt.id); tt.ok != (err == nil) {
			t.Errorf("validateMsgID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}

// FuzzEventSubject checks that whatever EventSubject accepts is a concrete
// five-token subject that names its parts back and passes validation.
func FuzzEventSubject(f *testing.F) {
	f.Add("my-repo", "import", "01JD0000000000000000000000")
	f.Add("a.b", "c*", "d>")
	f.Add("rep", "k", "x y")
	f.Fuzz(func(t *testing.T, repo, kind, jobID string) {
		s, err := EventSubject(store.RepoID(repo), kind, store.JobID(jobID))
		if err != nil {
			if !errors.Is(err, ErrInvalidSubject) {
				t.Fatalf("error %v does not wrap ErrInvalidSubject", err)
			}
			return
		}
		tokens := strings.Split(s, ".")
		if len(tokens) != 5 || tokens[2] != repo || tokens[3] != kind || tokens[4] != jobID {
			t.Fatalf("EventSubject(%q, %q, %q) = %q", repo, kind, jobID, s)
		}
		if strings.ContainsAny(s, "*> \t\r\n") {
			t.Fatalf("subject %q holds a wildcard or white space", s)
		}
		if err := ValidateEventSubject(s); err != nil {
			t.Fatalf("ValidateEventSubject(%q): %v", s, err)
		}
	})
}

// FuzzValidateEventFilter checks that an accepted filter stays inside
// lakeq.events and has no empty token.
func FuzzValidateEventFilter(f *testing.F) {
	f.Add("lakeq.events.>")
	f.Add("lakeq.events.repo.*.01JD")
	f.Add("lakeq.events..x")
	f.Fuzz(func(t *testing.T, s string) {
		if err := ValidateEventFilter(s); err != nil {
			return
		}
		tokens := strings.Split(s, ".")
		if len(tokens) < 3 || len(tokens) > 5 || tokens[0] != "lakeq" || tokens[1] != "events" {
			t.Fatalf("accepted %q", s)
		}
		for i, tok := range tokens {
			if tok == "" || strings.ContainsAny(tok, " \t\r\n") || (tok == ">" && i != len(tokens)-1) {
				t.Fatalf("accepted %q with bad token %q", s, tok)
			}
		}
	})
}
