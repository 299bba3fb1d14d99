package reconcile

import (
	"time"

	"github.com/skupperd/skupperd/namespaces"
)

// SetRacyWindow sets how recently input may have changed for a pass to be
// memoized, until the returned function restores it.
func SetRacyWindow(d time.Duration) (restore func()) {
	old := racyWindow
	racyWindow = d
	return func() { racyWindow = old }
}

// PassMemoPath is where a namespace's pass memo lives.
var PassMemoPath = passMemoPath

// SetLoadedHook calls f when a pass has loaded its input (before the
// pass uses it), until the returned function restores none.
func SetLoadedHook(f func(ns namespaces.Namespace, snap *namespaces.Snapshot)) (restore func()) {
	testHookLoaded = f
	return func() { testHookLoaded = nil }
}
