package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/router/hotapply"
)

// hotApplyTimeout bounds one hot apply (query, operations, read-back).
const hotApplyTimeout = 30 * time.Second

// hotApplyProbe bounds the first management request of a hot apply.
const hotApplyProbe = 3 * time.Second

// running is what the worker knows the namespace's router runs: the spec
// it was last ensured with and the configuration it was started with or
// brought to (the skrouterd.json bytes). The process supervisor restarts
// a router that dies with the file, which always holds that configuration.
type running struct {
	spec   router.Spec
	config []byte
	// entities are config parsed.
	entities []hotapply.Entity
	// profiles maps each sslProfile to a digest of its files' contents
	// then, so that only the profiles whose certificates were renewed are
	// reloaded (an UPDATE of skupperd's own profile is not needed for a
	// new link's certificate).
	profiles map[string]string
}

// profileDigests reads the files of every sslProfile of the entities es.
// A file that cannot be read digests as its error, which differs from any
// content.
func profileDigests(es []hotapply.Entity) map[string]string {
	out := map[string]string{}
	for name, files := range hotapply.ProfileFiles(es) {
		h := sha256.New()
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				data = []byte(err.Error())
			}
			fmt.Fprintf(h, "%s %d\n", f, len(data))
			h.Write(data)
		}
		out[name] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// renewed names the profiles of the entities es whose files changed
// since the router loaded them.
func (r *running) renewed(es []hotapply.Entity) map[string]bool {
	out := map[string]bool{}
	for name, sum := range profileDigests(es) {
		if old, ok := r.profiles[name]; ok && old != sum {
			out[name] = true
		}
	}
	return out
}

// hotApply brings the running router to the configuration the reconcile
// of p wrote, through management, instead of restarting it: the router
// must run the same spec, be observed on its local port, and every change
// must be one the router takes at run time. It reports whether the
// router now runs the new configuration; when not, it logs why and the
// caller restarts the router.
func (w *worker) hotApply(ctx context.Context, p *pass, spec router.Spec) bool {
	start := time.Now()
	plan, err := w.tryHotApply(ctx, p, spec, true)
	if err != nil && ctx.Err() != nil {
		return false // shutting down
	}
	if err != nil {
		level := "router configuration not applied at run time; restarting the router"
		if errors.Is(err, hotapply.ErrRestart) {
			p.log.Info(level, "reason", err.Error())
		} else {
			p.log.Warn(level, "reason", err.Error())
		}
		w.d.hotApplyFailures.Add(1)
		return false
	}
	w.d.hotApplies.Add(1)
	ops := make([]string, len(plan.Ops))
	for i, op := range plan.Ops {
		ops[i] = op.String()
	}
	p.log.Info("router configuration applied without a restart", "operations", ops, "duration", time.Since(start),
		"query", plan.Took.Query, "apply", plan.Took.Operations, "read_back", plan.Took.ReadBack)
	for _, b := range plan.Busy {
		// A restart would not help: the router starts such a listener
		// down too. The observer reports and retries it (ports.go).
		p.log.Info("a listener created at run time cannot listen: another process holds its port", "listener", b)
	}
	w.obs.pokePorts()
	return true
}

// correctDrift brings the running router back to the configuration it
// runs when an entity was changed behind skupperd's back (e.g. with
// skmanage), after a reconcile that changed nothing. It never restarts
// the router: what it cannot set back is logged.
func (w *worker) correctDrift(ctx context.Context, p *pass, spec router.Spec) {
	if !w.d.cfg.Supervisor.State(w.ns.Name).Running || w.obs.port != spec.LocalPort || !w.obs.conn.Connected() {
		// Starting (it reads the file), or not reachable now: the next
		// reconcile checks again. Never wait for a dial here.
		return
	}
	plan, err := w.tryHotApply(ctx, p, spec, false)
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		p.log.Warn("router configuration drift not corrected", "reason", err.Error())
	case len(plan.Ops) > 0:
		ops := make([]string, len(plan.Ops))
		for i, op := range plan.Ops {
			ops[i] = op.String()
		}
		p.log.Info("router configuration drift corrected", "operations", ops)
	}
}

// tryHotApply brings the router to the configuration file through
// management. incremental (a configuration change) takes what runs from
// the configuration the router was last brought to, except what changes
// (hotapply.Options.Incremental); otherwise (drift correction) everything
// the router runs is queried.
func (w *worker) tryHotApply(ctx context.Context, p *pass, spec router.Spec, incremental bool) (hotapply.Plan, error) {
	switch {
	case w.running == nil:
		return hotapply.Plan{}, &hotapply.RestartError{Reason: "the configuration the router runs is not known"}
	case w.running.spec != spec:
		return hotapply.Plan{}, &hotapply.RestartError{Reason: "the router's command (configuration file, site id or local port) changed"}
	case w.obs == nil || w.obs.port != spec.LocalPort:
		return hotapply.Plan{}, &hotapply.RestartError{Reason: "the router is not connected for management"}
	case !w.obs.conn.Connected():
		// A router that started moments ago may run before the
		// observer's first dial reaches it (its redials back off while
		// the router starts): restarting it would cut the connections it
		// already carries. One the supervisor reports running is dialled
		// now, within the probe's bound, whatever backoff the failed
		// dials of its start owe (ConnNow); one that is not up, or does
		// not speak management, is restarted.
		if !w.d.cfg.Supervisor.State(w.ns.Name).Running {
			return hotapply.Plan{}, &hotapply.RestartError{Reason: "the router is not connected for management"}
		}
		dctx, cancel := context.WithTimeout(ctx, hotApplyProbe)
		_, err := w.obs.conn.ConnNow(dctx)
		cancel()
		if err != nil {
			return hotapply.Plan{}, &hotapply.RestartError{Reason: fmt.Sprintf("the router is not connected for management (%v)", err)}
		}
	}
	// A short probe first: a router that does not answer management is
	// restarted without waiting long. One still starting is fine once it
	// answers: it read the file when it started, and the file held
	// w.running then (this goroutine writes it and applies it). One the
	// supervisor restarted after a crash runs the file as it is now: its
	// managed entities are queried, not assumed.
	pctx, cancel := context.WithTimeout(ctx, hotApplyProbe)
	_, err := w.obs.mgmt.Query(pctx, "router", "id")
	cancel()
	if err != nil {
		return hotapply.Plan{}, fmt.Errorf("the router does not answer management: %w", err)
	}
	data, err := os.ReadFile(spec.ConfigPath)
	if err != nil {
		return hotapply.Plan{}, err
	}
	desired := w.running.entities
	if !bytes.Equal(data, w.running.config) {
		if desired, err = hotapply.ParseConfig(data); err != nil {
			return hotapply.Plan{}, err
		}
		w.parsed = &parsedConfig{data: data, entities: desired}
	}
	ctx, cancel = context.WithTimeout(ctx, hotApplyTimeout)
	defer cancel()
	w.obs.applyMu.Lock()
	defer w.obs.applyMu.Unlock()
	return hotapply.Apply(ctx, w.obs.mgmt, w.running.entities, desired,
		hotapply.Options{Reload: w.running.renewed(desired), Incremental: incremental})
}

// parsedConfig is a router configuration as read and parsed by the last
// hot apply, so that recording it as running does not parse it again.
type parsedConfig struct {
	data     []byte
	entities []hotapply.Entity
}

// noteRunning records that the router runs spec with the configuration
// now in its file (after a start, restart or hot apply).
func (w *worker) noteRunning(p *pass, spec router.Spec) {
	parsed := w.parsed
	w.parsed = nil
	data, err := os.ReadFile(spec.ConfigPath)
	if err != nil {
		p.log.Warn("cannot read the router configuration; its next change restarts the router", "error", err)
		w.running = nil
		return
	}
	// The configuration is parsed once: reused when the router already
	// ran it, or the hot apply just parsed it. Its profiles are digested
	// again: their certificates may have been renewed.
	var es []hotapply.Entity
	switch {
	case w.running != nil && bytes.Equal(w.running.config, data):
		es = w.running.entities
	case parsed != nil && bytes.Equal(parsed.data, data):
		es = parsed.entities
	default:
		es, err = hotapply.ParseConfig(data)
	}
	if err != nil {
		p.log.Warn("cannot parse the router configuration; its next change restarts the router", "error", err)
		w.running = nil
		return
	}
	w.running = &running{spec: spec, config: data, entities: es, profiles: profileDigests(es)}
}
