package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/skupperd/skupperd/namespaces"
)

// checkLock checks the data home's lock at a lock-check tick. When the
// data home at the path is no longer the one locked (removed, or replaced
// by another directory), it locks the one there now and moves the daemon
// onto it (rebase); the path lock held meanwhile keeps any other skupperd
// from starting on it. Until then routers keep running and workers leave
// them alone. It returns an error only when the daemon must stop:
// another process holds the new data home's lock file, or none could be
// locked within LockGrace.
func (d *Daemon) checkLock(st *loopState) error {
	err := d.cfg.Lock.Check()
	if err == nil {
		st.lost = time.Time{}
		return nil
	}
	first := st.lost.IsZero()
	if first {
		st.lost = time.Now()
		d.log.Warn("the data home was removed or replaced; locking the one at its path (routers keep running meanwhile)",
			"data_home", d.cfg.Home.Root, "reason", err.Error())
	}
	overdue := time.Since(st.lost) >= d.cfg.LockGrace
	rerr := d.cfg.Lock.Relock(overdue)
	switch {
	case rerr == nil:
		d.log.Warn("the data home was replaced: this daemon locked the new one and manages it",
			"data_home", d.cfg.Home.Root, "after", time.Since(st.lost).Round(time.Millisecond), "created", overdue)
		st.lost = time.Time{}
		d.rebase(st)
		return nil
	case overdue || errors.Is(rerr, namespaces.ErrAlreadyRunning):
		// Another skupperd holds the new data home (one that cannot see
		// this one's path lock), or none can be made.
		return fmt.Errorf("%w: %w", namespaces.ErrLockLost, rerr)
	case first && errors.Is(rerr, namespaces.ErrDataHomeGone):
		d.log.Warn("no data home at the path; waiting for one to be created", "data_home", d.cfg.Home.Root, "limit", d.cfg.LockGrace)
	case !errors.Is(rerr, namespaces.ErrDataHomeGone):
		d.log.Warn("cannot lock the data home at the path yet; retrying", "data_home", d.cfg.Home.Root, "error", rerr, "limit", d.cfg.LockGrace)
	}
	return nil
}

// rebase moves the daemon onto the data home it just locked at its path:
// the watches of the old directories are dropped and set on the new ones,
// namespaces absent from the new data home are stopped with their
// routers, new ones are started, and every namespace is reconciled from
// the new input. A router whose configuration, certificates and command
// come out the same keeps running untouched; otherwise it is changed as
// for any input change (hot apply, or a restart).
func (d *Daemon) rebase(st *loopState) {
	if err := d.cfg.Home.Ensure(); err != nil {
		d.log.Error("prepare the new data home", "error", err)
	}
	d.watch.reset()
	if err := d.watch.add(d.cfg.Home.NamespacesDir()); err != nil {
		d.log.Warn("cannot watch the namespaces directory; polling instead", "error", err)
	}
	st.global = globalStamp(d.cfg.Home, d.cfg.Hosts)
	st.prints = map[string]string{}
	d.discover()
	d.kickAll(false)
}
