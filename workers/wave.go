package workers

import (
	"fmt"
	"strconv"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// Wave returns the wave of this execution: 0 in a job's Run; in a task,
// the wave that fanned it out; in Finalize, the wave whose tasks just
// completed (see FanOut).
func (rt *Run) Wave() int { return rt.wave }

// finalizeWave reads the wave a finalize message follows from its
// jobs.WaveHeader (absent: wave 0).
func finalizeWave(m *broker.Msg) (int, error) {
	v := m.Headers().Get(jobs.WaveHeader)
	if v == "" {
		return 0, nil
	}
	w, err := strconv.Atoi(v)
	if err != nil || w < 0 {
		return 0, fmt.Errorf("finalize message: %s %q: %w", jobs.WaveHeader, v, store.ErrInvalidValue)
	}
	return w, nil
}
