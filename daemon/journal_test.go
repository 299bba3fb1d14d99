package daemon

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestInputJournal(t *testing.T) {
	j := newInputJournal()
	now := time.Unix(1000, 0)
	const trust = time.Minute
	names := func(epoch uint64) []string {
		t.Helper()
		c := j.take(epoch, now, trust)
		if c == nil {
			return nil
		}
		slices.Sort(c.Names)
		return append([]string{}, c.Names...)
	}

	// A new journal cannot tell: events before the first take are not
	// known to it.
	j.note("a.yaml")
	if got := names(1); got != nil {
		t.Fatalf("first take %v, want nil", got)
	}
	// Since then, it can.
	if got := names(1); got == nil || len(got) != 0 {
		t.Fatalf("quiet take %v, want none", got)
	}
	j.note("b.yaml")
	j.note("a.yaml")
	j.note("b.yaml")
	if got := names(1); fmt.Sprint(got) != "[a.yaml b.yaml]" {
		t.Fatalf("take %v, want [a.yaml b.yaml]", got)
	}
	if got := names(1); len(got) != 0 {
		t.Fatalf("take %v after a take, want none", got)
	}

	// Lost events, a watch added again, no watch: it cannot tell once.
	j.lost()
	if got := names(1); got != nil {
		t.Fatalf("take after lost events %v, want nil", got)
	}
	if got := names(2); got != nil {
		t.Fatalf("take under a new watch %v, want nil", got)
	}
	if got := names(0); got != nil {
		t.Fatalf("take without a watch %v, want nil", got)
	}
	j.note("c.yaml") // not watched: not known
	if got := names(3); got != nil {
		t.Fatalf("take after a time without a watch %v, want nil", got)
	}
	if got := names(3); got == nil {
		t.Fatal("watched again: cannot tell")
	}

	// Too many names: a full look is cheaper.
	for i := range journalLimit + 1 {
		j.note(fmt.Sprint(i))
	}
	if got := names(3); got != nil {
		t.Fatalf("take of %d names: want nil", journalLimit+1)
	}

	// A full look at least every trust period.
	if got := names(3); got == nil {
		t.Fatal("cannot tell right after a full look")
	}
	now = now.Add(trust)
	if got := names(3); got != nil {
		t.Fatalf("take a trust period after the last full look %v, want nil", got)
	}
	if got := names(3); got == nil {
		t.Fatal("cannot tell right after a full look")
	}
}
