package jobs

import (
	"encoding/json"
	"fmt"

	"github.com/lakeq/lakeq/store"
)

// Message is the payload of a job's message on lakeq.jobs.<kind>: it only
// names the job, whose request and state are in the Store. The same
// payload, with the header PhaseHeader set to PhaseFinalize, asks a worker
// to finalize a fanned-out job.
type Message struct {
	JobID store.JobID `json:"job_id"`
}

// PhaseHeader is the message header that tells a job message's phase; a
// message without it starts the job.
const PhaseHeader = "Lakeq-Phase"

// PhaseFinalize is PhaseHeader's value on the message that finalizes a job
// once all its tasks are done.
const PhaseFinalize = "finalize"

// EncodeMessage returns the job message payload for job id.
func EncodeMessage(id store.JobID) []byte {
	b, _ := json.Marshal(Message{JobID: id}) // cannot fail
	return b
}

// DecodeMessage parses a job message payload.
func DecodeMessage(b []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("job message: %w: %v", store.ErrInvalidValue, err)
	}
	if err := ValidateID(m.JobID); err != nil {
		return m, fmt.Errorf("job message: job id %q: %w", m.JobID, err)
	}
	return m, nil
}
