package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/namespaces"
)

// ProcessSupervisor runs each namespace's router as a child process of the
// daemon: `skrouterd -c <config>`. A router that exits is restarted with
// capped exponential backoff; Stop sends SIGTERM and, after StopTimeout,
// SIGKILL. Children get SIGTERM if the daemon dies (Pdeathsig), and a pid
// file per namespace lets a restarted daemon replace a router left behind.
type ProcessSupervisor struct {
	// Binary is the router executable (name on PATH or a path).
	Binary string
	// StopTimeout bounds a graceful stop (default 10s).
	StopTimeout time.Duration
	// MinBackoff and MaxBackoff bound restart delays (default 500ms, 30s).
	MinBackoff, MaxBackoff time.Duration
	// OnChange is called (without locks held) when a router's observed
	// state changes, so the namespace's status can be refreshed.
	OnChange func(ns string)
	Logger   *slog.Logger

	mu      sync.Mutex
	routers map[string]*routerProc
	wg      sync.WaitGroup
}

// routerProc is the supervision of one namespace's router.
type routerProc struct {
	spec    Spec
	restart chan struct{} // signals "restart now" (buffered 1)
	cancel  context.CancelFunc
	done    chan struct{}

	state StateCell
}

func (p *routerProc) setState(s State) bool { return p.state.Set(s) }

func (s *ProcessSupervisor) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *ProcessSupervisor) changed(ns string) {
	if s.OnChange != nil {
		s.OnChange(ns)
	}
}

// Ensure implements Supervisor.
func (s *ProcessSupervisor) Ensure(ctx context.Context, spec Spec, restart bool) error {
	s.mu.Lock()
	if s.routers == nil {
		s.routers = map[string]*routerProc{}
	}
	p := s.routers[spec.Namespace]
	if p != nil && p.spec != spec {
		// A different binary path, config or port: restart with it.
		s.mu.Unlock()
		if err := s.Stop(ctx, spec.Namespace); err != nil {
			return err
		}
		return s.Ensure(ctx, spec, false)
	}
	if p != nil {
		s.mu.Unlock()
		if restart {
			select {
			case p.restart <- struct{}{}:
			default:
			}
		}
		return nil
	}
	rctx, cancel := context.WithCancel(context.Background())
	p = &routerProc{spec: spec, restart: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	s.routers[spec.Namespace] = p
	s.wg.Add(1)
	s.mu.Unlock()
	replaceOrphan(spec, s.logger())
	go func() {
		defer s.wg.Done()
		defer close(p.done)
		s.supervise(rctx, p)
	}()
	return nil
}

// Stop implements Supervisor.
func (s *ProcessSupervisor) Stop(ctx context.Context, ns string) error {
	s.mu.Lock()
	p := s.routers[ns]
	delete(s.routers, ns)
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	p.cancel()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop router of namespace %q: %w", ns, ctx.Err())
	}
}

// State implements Supervisor.
func (s *ProcessSupervisor) State(ns string) State {
	s.mu.Lock()
	p := s.routers[ns]
	s.mu.Unlock()
	if p == nil {
		if _, err := exec.LookPath(s.Binary); err != nil {
			return State{Message: NotInstalledMessage(s.Binary)}
		}
		return State{Message: "Router not started"}
	}
	return p.state.Get()
}

// Close implements Supervisor.
func (s *ProcessSupervisor) Close(ctx context.Context) error {
	s.mu.Lock()
	var names []string
	for ns := range s.routers {
		names = append(names, ns)
	}
	s.mu.Unlock()
	var errs []error
	for _, ns := range names {
		errs = append(errs, s.Stop(ctx, ns))
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// supervise runs the router until ctx ends, restarting it when it exits
// (with backoff) or when asked to.
func (s *ProcessSupervisor) supervise(ctx context.Context, p *routerProc) {
	log := s.logger().With("namespace", p.spec.Namespace)
	minB, maxB := s.MinBackoff, s.MaxBackoff
	if minB <= 0 {
		minB = 500 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = 30 * time.Second
	}
	backoff := minB
	defer func() {
		if p.setState(State{Message: "Router stopped"}) {
			s.changed(p.spec.Namespace)
		}
	}()
	for ctx.Err() == nil {
		bin, err := exec.LookPath(s.Binary)
		if err != nil {
			if p.setState(State{Message: NotInstalledMessage(s.Binary)}) {
				log.Warn("router binary not found; the site's configuration is written but no router runs", "binary", s.Binary)
				s.changed(p.spec.Namespace)
			}
			if !s.wait(ctx, p, maxB) {
				return
			}
			continue
		}
		started := time.Now()
		exit, requested := s.runOnce(ctx, p, bin, log)
		if ctx.Err() != nil {
			return
		}
		if requested {
			backoff = minB
			continue // restart at once for a configuration change
		}
		if time.Since(started) > time.Minute {
			backoff = minB
		}
		msg := fmt.Sprintf("Router exited (%s); restarting in %s", exit, backoff.Round(time.Millisecond))
		log.Warn("router exited", "exit", exit, "restart_in", backoff)
		if p.setState(State{Message: msg}) {
			s.changed(p.spec.Namespace)
		}
		if !s.wait(ctx, p, backoff) {
			return
		}
		backoff = min(backoff*2, maxB)
	}
}

// wait sleeps d, returning false when ctx ends. A restart request ends the
// wait early.
func (s *ProcessSupervisor) wait(ctx context.Context, p *routerProc, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-p.restart:
	}
	return true
}

// runOnce starts the router and waits until it exits, ctx ends (graceful
// stop) or a restart is requested. It reports how the process ended and
// whether a restart was requested.
func (s *ProcessSupervisor) runOnce(ctx context.Context, p *routerProc, bin string, log *slog.Logger) (string, bool) {
	cmd := exec.Command(bin, "-c", p.spec.ConfigPath)
	cmd.Env = append(os.Environ(), "SKUPPER_SITE_ID="+p.spec.SiteID)
	cmd.Dir = filepath.Dir(p.spec.ConfigPath)
	cmd.Stdout = &logWriter{log: log, level: slog.LevelInfo}
	cmd.Stderr = &logWriter{log: log, level: slog.LevelWarn}
	// Own process group (a terminal's signals do not reach routers) and
	// SIGTERM to the router if the daemon dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		msg := fmt.Sprintf("Router failed to start: %v", err)
		if p.setState(State{Message: msg}) {
			s.changed(p.spec.Namespace)
		}
		return err.Error(), false
	}
	log.Info("router started", "pid", cmd.Process.Pid, "config", p.spec.ConfigPath)
	writePIDFile(p.spec, cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Running once the local port accepts connections on a socket of this
	// very process (not of another one holding the port).
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go func() {
		held := func() {
			msg := fmt.Sprintf("Router starting (pid %d): its local port %d is held by another process", cmd.Process.Pid, p.spec.LocalPort)
			if p.setState(State{Message: msg}) {
				log.Warn("the router's local port is held by another process", "port", p.spec.LocalPort, "pid", cmd.Process.Pid)
				s.changed(p.spec.Namespace)
			}
		}
		if waitForOwnPort(probeCtx, cmd.Process.Pid, p.spec.LocalPort, held) {
			if p.setState(State{Running: true, PID: cmd.Process.Pid, Message: fmt.Sprintf("Router running (pid %d)", cmd.Process.Pid)}) {
				s.changed(p.spec.Namespace)
			}
		}
	}()
	if p.setState(State{Message: "Router starting"}) {
		s.changed(p.spec.Namespace)
	}

	stop := func() string {
		stopProbe()
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		timeout := s.StopTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case err := <-exited:
			removePIDFile(p.spec)
			return exitText(err)
		case <-t.C:
			log.Warn("router did not stop in time; killing it", "timeout", timeout)
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			err := <-exited
			removePIDFile(p.spec)
			return exitText(err)
		}
	}
	select {
	case err := <-exited:
		stopProbe()
		removePIDFile(p.spec)
		return exitText(err), false
	case <-ctx.Done():
		return stop(), false
	case <-p.restart:
		log.Info("restarting router for a configuration change")
		return stop(), true
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// waitForOwnPort polls 127.0.0.1:port until it accepts a connection on
// a socket that process pid listens on (true), or ctx ends (false). While
// the port answers but belongs to another process, held is called.
func waitForOwnPort(ctx context.Context, pid, port int, held func()) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	delay := 10 * time.Millisecond
	for {
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			owned, _, err := PortOwner(pid, port)
			if owned || err != nil && ctx.Err() == nil && procUnreadable(pid) {
				return true
			}
			if ctx.Err() == nil {
				held()
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		delay = min(delay*2, time.Second)
	}
}

// procUnreadable reports whether /proc does not show pid's descriptors
// (no /proc, or another user's process): ownership cannot be checked, and
// the answering port is taken as the router's, as before.
func procUnreadable(pid int) bool {
	_, err := os.ReadDir(fmt.Sprintf("%s/%d/fd", procRoot, pid))
	return err != nil && !errors.Is(err, os.ErrNotExist)
}

// writePIDFile records "<pid> <config path>" so a later daemon can find
// the process.
func writePIDFile(spec Spec, pid int) {
	if spec.PIDFile == "" {
		return
	}
	_ = atomicfile.WriteFile(spec.PIDFile, []byte(fmt.Sprintf("%d %s\n", pid, spec.ConfigPath)), namespaces.FilePerm)
}

func removePIDFile(spec Spec) {
	if spec.PIDFile != "" {
		_ = atomicfile.Remove(spec.PIDFile)
	}
}

// replaceOrphan stops a router recorded in spec's pid file that is still
// running the same configuration (left behind by a daemon that was
// killed), so that exactly one router per namespace runs.
func replaceOrphan(spec Spec, log *slog.Logger) {
	if spec.PIDFile == "" {
		return
	}
	data, err := os.ReadFile(spec.PIDFile)
	if err != nil {
		return
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 1 || fields[1] != spec.ConfigPath {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), spec.ConfigPath) {
		return // gone, or the pid was reused by something else
	}
	log.Warn("replacing a router left behind by a previous daemon", "namespace", spec.Namespace, "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// logWriter forwards a router's output lines to the daemon log, each at
// the level the router gave it (see LineLevel); level is used for lines
// that carry none.
type logWriter struct {
	log   *slog.Logger
	level slog.Level
	mu    sync.Mutex
	buf   []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.log.Log(context.Background(), LineLevel(line, w.level), "router", "output", line)
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.buf = w.buf[:0]
	}
	return len(b), nil
}

// routerLevels maps skupper-router's log severities, written as
// "MODULE (severity)" in each line, to slog levels.
var routerLevels = map[string]slog.Level{
	"trace": slog.LevelDebug, "debug": slog.LevelDebug,
	"info": slog.LevelInfo, "notice": slog.LevelInfo,
	"warning": slog.LevelWarn,
	"error":   slog.LevelError, "critical": slog.LevelError,
}

// LineLevel returns the slog level of one line of router output, e.g.
// "2026-12-01 14:54:37.240499 +0000 SERVER (error) [C14] ..." is Error;
// a line without a recognised severity gets def.
func LineLevel(line string, def slog.Level) slog.Level {
	// The severity follows the module name, after the timestamp; look at
	// the first parenthesised word only.
	open := strings.IndexByte(line, '(')
	if open < 0 || open > 80 {
		return def
	}
	end := strings.IndexByte(line[open:], ')')
	if end < 0 {
		return def
	}
	if l, ok := routerLevels[line[open+1:open+end]]; ok {
		return l
	}
	return def
}
