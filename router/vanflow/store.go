package vanflow

import (
	"reflect"
	"sort"
	"sync"
)

// Store holds the records received, keyed by identity, each remembering
// the source (vanflow event source id) that last sent it. It is safe for
// concurrent use.
type Store struct {
	mu      sync.Mutex
	records map[string]*stored
}

type stored struct {
	source string
	attrs  map[uint32]any
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{records: map[string]*stored{}} }

// Apply applies recs, received from source, as patches: a record with
// endTime deletes its identity; any other record sets the attributes it
// carries (a nil value clears one) and leaves the others. The record then
// belongs to source. Apply reports whether the store's content changed.
func (s *Store) Apply(source string, recs []Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, r := range recs {
		old := s.records[r.Identity]
		if r.Ended() {
			if old != nil {
				delete(s.records, r.Identity)
				changed = true
			}
			continue
		}
		if old == nil {
			old = &stored{attrs: map[uint32]any{}}
			s.records[r.Identity] = old
			changed = true
		}
		old.source = source
		for k, v := range r.Attrs {
			if k == AttrIdentity {
				continue
			}
			prev, had := old.attrs[k]
			if v == nil {
				if had {
					delete(old.attrs, k)
					changed = true
				}
				continue
			}
			if !had || !reflect.DeepEqual(prev, v) {
				old.attrs[k] = v
				changed = true
			}
		}
	}
	return changed
}

// Untyped reports whether any of the identities of recs is held without a
// record type: a patch arrived for a record whose first emission (which
// carries every attribute) was missed, e.g. because a FLUSH was lost.
func (s *Store) Untyped(recs []Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if old := s.records[r.Identity]; old != nil {
			if _, typed := old.attrs[AttrType]; !typed {
				return true
			}
		}
	}
	return false
}

// Typed reports whether the record identity is held with its record type
// (its full emission was received).
func (s *Store) Typed(identity string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[identity]
	if r == nil {
		return false
	}
	_, typed := r.attrs[AttrType]
	return typed
}

// Forget deletes every record that belongs to source and returns how many
// there were.
func (s *Store) Forget(source string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.records {
		if r.source == source {
			delete(s.records, id)
			n++
		}
	}
	return n
}

// Clear deletes every record and returns how many there were.
func (s *Store) Clear() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.records)
	s.records = map[string]*stored{}
	return n
}

// Len is the number of records held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// Snapshot returns the typed records, each kind sorted by ID.
func (s *Store) Snapshot() Snapshot {
	s.mu.Lock()
	ids := make([]string, 0, len(s.records))
	for id := range s.records {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	snap := Snapshot{RecordsByType: map[RecordType]int{}}
	for _, id := range ids {
		r := s.records[id]
		if t, ok := typeOf(r.attrs); ok {
			snap.add(id, t, r.attrs)
		}
	}
	s.mu.Unlock()
	return snap
}
