package broker

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/lakeq/lakeq/store"
)

// Stream names. They are fixed: every lakeq process of a deployment meets on
// the same three streams.
const (
	// StreamJobs holds one message per submitted job, on subjects
	// lakeq.jobs.<kind>, with work-queue retention.
	StreamJobs = "LAKEQ_JOBS"
	// StreamTasks holds the parts a large job fans out into, on subjects
	// lakeq.tasks.<kind>, with work-queue retention.
	StreamTasks = "LAKEQ_TASKS"
	// StreamEvents holds job lifecycle and progress events, on subjects
	// lakeq.events.<repo>.<kind>.<job-id>, kept for Config.EventsMaxAge.
	StreamEvents = "LAKEQ_EVENTS"
)

const (
	subjectRoot   = "lakeq"
	eventsToken   = "events"
	eventsPrefix  = subjectRoot + "." + eventsToken + "."
	eventsAll     = eventsPrefix + ">"
	eventTokens   = 5 // lakeq.events.<repo>.<kind>.<job-id>
	maxMsgIDBytes = 256
)

// Queue names one of lakeq's two work queues. Each kind of work on a queue
// gets its own subject and its own durable consumer shared by all workers.
type Queue string

const (
	// Jobs is the queue of whole jobs (stream LAKEQ_JOBS).
	Jobs Queue = "jobs"
	// Tasks is the queue of the tasks a job fans out into (stream LAKEQ_TASKS).
	Tasks Queue = "tasks"
)

var (
	kindRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	tokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
)

// Validate reports whether q is Jobs or Tasks.
func (q Queue) Validate() error {
	switch q {
	case Jobs, Tasks:
		return nil
	}
	return fmt.Errorf("%w: unknown queue %q (want %q or %q)", ErrInvalidSubject, string(q), Jobs, Tasks)
}

// Stream returns the name of q's stream.
func (q Queue) Stream() string {
	if q == Tasks {
		return StreamTasks
	}
	return StreamJobs
}

// Subject returns lakeq.<queue>.<kind>, the subject work of this kind is
// published on. It rejects a kind that ValidateKind rejects.
func (q Queue) Subject(kind string) (string, error) {
	if err := q.Validate(); err != nil {
		return "", err
	}
	if err := ValidateKind(kind); err != nil {
		return "", err
	}
	return subjectRoot + "." + string(q) + "." + kind, nil
}

// Durable returns <queue>-<kind>, the name of the durable consumer that all
// workers serving this kind share.
func (q Queue) Durable(kind string) (string, error) {
	if err := q.Validate(); err != nil {
		return "", err
	}
	if err := ValidateKind(kind); err != nil {
		return "", err
	}
	return string(q) + "-" + kind, nil
}

// wildcard returns lakeq.<queue>.>, the subjects of q's stream.
func (q Queue) wildcard() string {
	return subjectRoot + "." + string(q) + ".>"
}

// ValidateKind reports whether kind may name a kind of job, task or event:
// 1–63 characters of a-z, 0-9 and '-', not starting with '-'.
func ValidateKind(kind string) error {
	if !kindRe.MatchString(kind) {
		return fmt.Errorf("%w: kind %q: 1-63 characters of a-z, 0-9 and '-', not starting with '-'", ErrInvalidSubject, kind)
	}
	return nil
}

// validateToken reports whether id may be a subject token: 1–128 characters
// of A-Z, a-z, 0-9, '_' and '-' (ULIDs and xids qualify).
func validateToken(what, id string) error {
	if !tokenRe.MatchString(id) {
		return fmt.Errorf("%w: %s %q: 1-128 characters of A-Z, a-z, 0-9, '_' and '-'", ErrInvalidSubject, what, id)
	}
	return nil
}

// validateMsgID reports whether id may be a Nats-Msg-Id: 1–256 bytes of
// printable ASCII without spaces.
func validateMsgID(id string) error {
	if id == "" || len(id) > maxMsgIDBytes {
		return fmt.Errorf("%w: message id %q: 1-%d bytes", ErrInvalidSubject, id, maxMsgIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return fmt.Errorf("%w: message id %q: printable ASCII without spaces only", ErrInvalidSubject, id)
		}
	}
	return nil
}

// JobSubject returns lakeq.jobs.<kind>.
func JobSubject(kind string) (string, error) { return Jobs.Subject(kind) }

// TaskSubject returns lakeq.tasks.<kind>.
func TaskSubject(kind string) (string, error) { return Tasks.Subject(kind) }

// EventSubject returns lakeq.events.<repo>.<kind>.<job-id>, the subject of an
// event about one job. Every part must be valid: repo as a store.RepoID,
// kind as ValidateKind says, the job id as a subject token (no '.', '*', '>'
// or white space).
func EventSubject(repo store.RepoID, kind string, jobID store.JobID) (string, error) {
	if err := repo.Validate(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidSubject, err)
	}
	if err := ValidateKind(kind); err != nil {
		return "", err
	}
	if err := validateToken("job id", string(jobID)); err != nil {
		return "", err
	}
	return eventsPrefix + string(repo) + "." + kind + "." + string(jobID), nil
}

// EventFilter returns a subject filter over events: each empty argument
// matches any value in its place, so EventFilter("", "", id) selects every
// event of job id and EventFilter("", "", "") every event.
func EventFilter(repo store.RepoID, kind string, jobID store.JobID) (string, error) {
	r, k, j := "*", "*", "*"
	if repo != "" {
		if err := repo.Validate(); err != nil {
			return "", fmt.Errorf("%w: %w", ErrInvalidSubject, err)
		}
		r = string(repo)
	}
	if kind != "" {
		if err := ValidateKind(kind); err != nil {
			return "", err
		}
		k = kind
	}
	if jobID != "" {
		if err := validateToken("job id", string(jobID)); err != nil {
			return "", err
		}
		j = string(jobID)
	}
	return eventsPrefix + r + "." + k + "." + j, nil
}

// ValidateEventSubject reports whether s is a concrete event subject,
// lakeq.events.<repo>.<kind>.<job-id>, as EventSubject builds.
func ValidateEventSubject(s string) error {
	return validateEventSubject(s, false)
}

// ValidateEventFilter reports whether s is an event subject or a filter over
// event subjects: like an event subject, where any token after
// lakeq.events may be '*' and the last one may be '>'.
func ValidateEventFilter(s string) error {
	return validateEventSubject(s, true)
}

func validateEventSubject(s string, wildcards bool) error {
	if !strings.HasPrefix(s, eventsPrefix) {
		return fmt.Errorf("%w: %q does not start with %q", ErrInvalidSubject, s, eventsPrefix)
	}
	tokens := strings.Split(s, ".")
	if len(tokens) > eventTokens || (len(tokens) < eventTokens && !(wildcards && tokens[len(tokens)-1] == ">")) {
		return fmt.Errorf("%w: %q: want lakeq.events.<repo>.<kind>.<job-id>", ErrInvalidSubject, s)
	}
	for i, tok := range tokens[2:] {
		pos := i + 2
		if wildcards && (tok == "*" || (tok == ">" && pos == len(tokens)-1)) {
			continue
		}
		var err error
		switch pos {
		case 2:
			if e := store.RepoID(tok).Validate(); e != nil {
				err = fmt.Errorf("%w: %w", ErrInvalidSubject, e)
			}
		case 3:
			err = ValidateKind(tok)
		default:
			err = validateToken("job id", tok)
		}
		if err != nil {
			return fmt.Errorf("event subject %q: %w", s, err)
		}
	}
	return nil
}
