package tree

import (
	"context"
	"fmt"
	"strings"

	"github.com/lakeq/lakeq/store"
)

// MergeStrategy chooses how Merge settles a path both sides changed
// differently.
type MergeStrategy int

// Merge strategies.
const (
	// MergeStrategyNone fails the merge with store.ErrMergeConflict.
	MergeStrategyNone MergeStrategy = iota
	// MergeStrategySourceWins takes the source's entry (or its deletion).
	MergeStrategySourceWins
	// MergeStrategyDestWins keeps the destination's entry (or its absence).
	MergeStrategyDestWins
)

// String returns "none", "source-wins" or "dest-wins".
func (s MergeStrategy) String() string {
	switch s {
	case MergeStrategyNone:
		return "none"
	case MergeStrategySourceWins:
		return "source-wins"
	case MergeStrategyDestWins:
		return "dest-wins"
	}
	return fmt.Sprintf("MergeStrategy(%d)", int(s))
}

// maxConflicts is how many conflicting paths a failed merge names before it
// stops looking.
const maxConflicts = 10

// Merge merges tree source into tree dest, given their common ancestor
// base, and returns the merged tree. For each path that changed from base
// to source: where dest still holds base's entry, source's change is taken;
// where dest made the same change, it is kept; otherwise the path
// conflicts, and strategy decides: MergeStrategyNone fails with an error
// wrapping store.ErrMergeConflict that names the first conflicting paths
// (nothing written is referenced by any metarange), SourceWins takes the
// source's side and DestWins keeps the destination's. Only dest ranges that
// a source change touches are opened.
func (m *Manager) Merge(ctx context.Context, ns Namespace, base, source, dest MetaRangeID, strategy MergeStrategy) (MetaRangeID, error) {
	if strategy < MergeStrategyNone || strategy > MergeStrategyDestWins {
		return "", fmt.Errorf("%w: merge strategy %d", store.ErrInvalidValue, int(strategy))
	}
	for _, id := range []MetaRangeID{base, source, dest} {
		if err := validateID(string(id)); err != nil {
			return "", fmt.Errorf("merge: %w", err)
		}
	}
	switch {
	case source == base || source == dest:
		return dest, nil
	case dest == base:
		return source, nil
	}
	diff, err := m.Diff(ctx, ns, base, source)
	if err != nil {
		return "", err
	}
	changes := m.DiffChanges(diff)
	defer changes.Close()

	w := m.NewWriter(ctx, ns)
	var conflicts []string
	resolve := func(current *store.Entry, ch *Change) (*store.Entry, error) {
		switch {
		case current.Equal(ch.Base):
			return ch.Entry, nil
		case current.Equal(ch.Entry):
			return current, nil
		}
		switch strategy {
		case MergeStrategySourceWins:
			return ch.Entry, nil
		case MergeStrategyDestWins:
			return current, nil
		}
		conflicts = append(conflicts, ch.Path)
		w.discard = true // the result will not be used: write nothing more
		if len(conflicts) >= maxConflicts {
			return nil, errTooManyConflicts
		}
		return current, nil
	}
	err = m.apply(ctx, ns, dest, changes, resolve, w)
	switch {
	case err == errTooManyConflicts:
		w.Abort()
		return "", fmt.Errorf("%w: %d or more paths changed differently on both sides, first: %s", store.ErrMergeConflict, len(conflicts), quoteAll(conflicts))
	case err != nil:
		w.Abort()
		return "", err
	case len(conflicts) > 0:
		w.Abort()
		return "", fmt.Errorf("%w: %d paths changed differently on both sides: %s", store.ErrMergeConflict, len(conflicts), quoteAll(conflicts))
	}
	return w.Close()
}

var errTooManyConflicts = fmt.Errorf("%w: conflicts", store.ErrMergeConflict)

func quoteAll(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = fmt.Sprintf("%q", p)
	}
	return strings.Join(q, ", ")
}
