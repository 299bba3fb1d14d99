package reconcile

import "time"

// SetRacyWindow sets how recently input may have changed for a pass to be
// memoized, until the returned function restores it.
func SetRacyWindow(d time.Duration) (restore func()) {
	old := racyWindow
	racyWindow = d
	return func() { racyWindow = old }
}

// PassMemoPath is where a namespace's pass memo lives.
var PassMemoPath = passMemoPath
