// Package router owns one router process: what it runs (Spec), what was
// observed of it (State), the Supervisor interface that keeps it running,
// and the child-process supervisor. systemd's supervisor implements the
// same interface. The package decides nothing about what a namespace
// should contain.
package router

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// State is what was observed of a namespace's router.
type State struct {
	// Running is true only when a live router process was observed.
	Running bool
	// Message explains the state, e.g. "skrouterd is not installed".
	Message string
	// PID is the running router's process (0 when not Running or not
	// known), for checks of the sockets it holds (see PortHolders).
	PID int
}

// Spec is what a namespace's router runs.
type Spec struct {
	Namespace string
	// ConfigPath is the absolute path of skrouterd.json.
	ConfigPath string
	// SiteID is exported to the router as SKUPPER_SITE_ID.
	SiteID string
	// LocalPort is the router's local normal port on 127.0.0.1; a router
	// counts as running once it accepts connections there.
	LocalPort int
	// PIDFile records the process so that a restarted daemon can find a
	// router left behind by a crashed one.
	PIDFile string
}

// Supervisor keeps namespaces' routers running. Implementations must be
// safe for concurrent use by the namespace workers.
type Supervisor interface {
	// Ensure makes the namespace's router run spec. When restart is true a
	// running router is restarted (its configuration changed); otherwise a
	// running router is left alone and a stopped one is started.
	Ensure(ctx context.Context, spec Spec, restart bool) error
	// Stop stops the namespace's router, if any, and waits for it to exit.
	Stop(ctx context.Context, ns string) error
	// State reports what was observed of the namespace's router.
	State(ns string) State
	// Close stops every router.
	Close(ctx context.Context) error
}

// NoSupervisor starts nothing; the status says so.
type NoSupervisor struct{}

// Ensure implements Supervisor.
func (NoSupervisor) Ensure(context.Context, Spec, bool) error { return nil }

// Stop implements Supervisor.
func (NoSupervisor) Stop(context.Context, string) error { return nil }

// State implements Supervisor.
func (NoSupervisor) State(string) State {
	return State{Message: DisabledMessage}
}

// DisabledMessage is the state message of every router when supervision
// is disabled: no router ever runs, so no site can become Ready.
const DisabledMessage = "router supervision is disabled (--supervisor none)"

// notInstalledNote ends NotInstalledMessage (and names its fix).
const notInstalledNote = " is not installed (install the skupper-router package, or set --router-binary)"

// Close implements Supervisor.
func (NoSupervisor) Close(context.Context) error { return nil }

// notAnsweringPrefix starts the message of a router that runs but does
// not answer.
const notAnsweringPrefix = "Router not answering"

// NotAnswering is the state of a running router (st, as its supervisor
// reports it) that has not answered since the given time: not Running,
// because nothing it should do can be relied on, with its pid. Its
// supervisor is not asked to restart it: a stopped (SIGSTOP) or wedged
// process is reported, not killed.
func NotAnswering(st State, since time.Time, limit time.Duration) State {
	pid := ""
	if st.PID > 0 {
		pid = fmt.Sprintf(" (pid %d)", st.PID)
	}
	return State{PID: st.PID, Message: fmt.Sprintf("%s%s since %s: no heartbeat or reply for %s, and a new connection is not answered",
		notAnsweringPrefix, pid, since.UTC().Format(time.RFC3339), limit)}
}

// IsNotAnswering reports whether st is a NotAnswering state.
func IsNotAnswering(st State) bool {
	return !st.Running && strings.HasPrefix(st.Message, notAnsweringPrefix)
}

// NotInstalledMessage is the state message for a router binary that cannot
// be found.
func NotInstalledMessage(bin string) string {
	return bin + notInstalledNote
}

// TerminalCause reports whether msg, a State message (or one that ends
// with it, as the summary's "NotRunning: <message>"), names a cause that
// waiting cannot cure: the router is not installed or supervision is
// disabled. It returns the cause and how to fix it, for a waiting CLI.
func TerminalCause(msg string) (cause, fix string, ok bool) {
	switch {
	case strings.HasSuffix(msg, DisabledMessage):
		return "router supervision is disabled (skupperd runs with --supervisor none), so no router runs",
			"restart skupperd with --supervisor auto, process or systemd", true
	case strings.HasSuffix(msg, notInstalledNote):
		msg = strings.TrimPrefix(msg, "NotRunning: ")
		bin := strings.TrimSuffix(msg, notInstalledNote)
		return fmt.Sprintf("the router (%s) is not installed", bin),
			"install the skupper-router package, or restart skupperd with --router-binary <path>", true
	}
	return "", "", false
}

// StateCell holds one router's observed state for concurrent readers and
// writers; the zero value is ready to use.
type StateCell struct {
	mu    sync.Mutex
	state State
}

// Set records s and reports whether it differs from the previous state.
func (c *StateCell) Set(s State) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == s {
		return false
	}
	c.state = s
	return true
}

// Get returns the current state.
func (c *StateCell) Get() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}
