package daemon

import (
	"sync"
	"time"

	"github.com/skupperd/skupperd/namespaces"
)

// journalLimit is the most names a journal keeps; beyond it a pass reads
// the whole directory, which costs less than that many lookups.
const journalLimit = 4096

// inputJournal is what the watcher saw change in one namespace's
// input/resources since the last pass took it (see take): the names of
// the entries events named, or that it cannot tell (a gap: events lost,
// the directory replaced or not watched). A pass loads only what the
// journal names, plus a full look (every file) at least every maxTrust,
// the safety net for changes no event reports.
type inputJournal struct {
	mu       sync.Mutex
	names    map[string]bool
	gap      bool      // events may have been missed since the last take
	epoch    uint64    // the directory's watch generation at the last take
	lastFull time.Time // when the last take returned nil
}

func newInputJournal() *inputJournal {
	return &inputJournal{names: map[string]bool{}, gap: true}
}

// note records an event on the entry name of input/resources.
func (j *inputJournal) note(name string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.gap {
		return
	}
	if len(j.names) >= journalLimit {
		j.lose()
		return
	}
	j.names[name] = true
}

// lost records that events may have been missed.
func (j *inputJournal) lost() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lose()
}

func (j *inputJournal) lose() {
	j.gap = true
	clear(j.names)
}

// take returns the names noted since the last take and starts afresh; nil
// when the journal cannot tell: a gap, a watch generation of the directory
// (epoch, 0: not watched) other than at the last take, or no full look for
// maxTrust.
func (j *inputJournal) take(epoch uint64, now time.Time, maxTrust time.Duration) *namespaces.InputChanges {
	j.mu.Lock()
	defer j.mu.Unlock()
	complete := !j.gap && epoch != 0 && epoch == j.epoch && now.Sub(j.lastFull) < maxTrust
	var changes *namespaces.InputChanges
	if complete {
		changes = &namespaces.InputChanges{Names: make([]string, 0, len(j.names))}
		for n := range j.names {
			changes.Names = append(changes.Names, n)
		}
	} else {
		j.lastFull = now
	}
	clear(j.names)
	j.epoch = epoch
	j.gap = epoch == 0
	return changes
}
