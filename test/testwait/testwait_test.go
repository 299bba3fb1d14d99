package testwait

import (
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	n := 0
	ok, _ := Poll(10*time.Second, func() (bool, string) { n++; return n == 3, "not yet" })
	if !ok || n != 3 {
		t.Fatalf("Poll = %v after %d checks, want true after 3", ok, n)
	}
	ok, why := Poll(0, func() (bool, string) { return false, "never" })
	if ok || why != "never" {
		t.Fatalf("Poll = %v, %q; want false, never", ok, why)
	}
}
