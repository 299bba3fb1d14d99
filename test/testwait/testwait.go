// Package testwait is the one way tests wait for an outcome: poll a
// condition with a short, growing delay until it holds or a deadline
// passes, then fail with the condition's last explanation. Tests assert
// converged state with a deadline; they never sleep to synchronise.
//
// It is test support: no product package may import it.
package testwait

import (
	"testing"
	"time"
)

// maxDelay caps the pause between two checks.
const maxDelay = 20 * time.Millisecond

// For polls cond until it reports true, failing t after timeout with
// what and cond's last explanation.
func For(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if ok, why := Poll(timeout, cond); !ok {
		t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, why)
	}
}

// Until is For for a condition without an explanation.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	For(t, timeout, what, func() (bool, string) { return cond(), "condition not met" })
}

// Poll checks cond until it holds (true) or timeout passes (false, with
// cond's last explanation). It never fails a test, for callers that
// decide themselves what a timeout means.
func Poll(timeout time.Duration, cond func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		ok, why := cond()
		if ok {
			return true, ""
		}
		if time.Now().After(deadline) {
			return false, why
		}
		time.Sleep(delay)
		delay = min(delay*2, maxDelay)
	}
}
