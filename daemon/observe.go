package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/skupperd/skupperd/internal/tick"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router"
	"github.com/skupperd/skupperd/router/amqpconn"
	"github.com/skupperd/skupperd/router/mgmt"
	"github.com/skupperd/skupperd/router/vanflow"
)

// observer follows one namespace's running router: a vanflow
// subscription over the router's skupper-local listener (mutual TLS, SASL
// EXTERNAL with the site's own client certificate). Each change of the
// network the router reports is handed to onChange (the worker then
// refreshes the namespace's status without a full reconcile), and each
// change of whether the router answers at all to onLiveness (the worker
// reconciles, which records the router's state in the summary too).
type observer struct {
	port int
	cfg  amqpconn.Config
	sub  *vanflow.Subscriber
	mgmt *mgmt.Client
	conn *amqpconn.Client
	log  *slog.Logger
	// onChange asks the worker to refresh the namespace's status,
	// onLiveness to reconcile it; pid is the router's process (0: not
	// known).
	onChange   func()
	onLiveness func()
	pid        func() int
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	// burst asks hintSources for a fast phase (the topology changed).
	burst chan struct{}

	// ctx ends when the observer stops.
	ctx context.Context

	// applyMu serialises changes to the router's entities: a hot apply
	// (the worker) and the retry of a listener that could not listen
	// (watchPorts).
	applyMu sync.Mutex
	// ports follows the listeners that cannot listen (ports.go); poke
	// asks for a check now.
	ports *portWatch
	poke  chan struct{}

	mu sync.Mutex
	// silentSince is when the router last answered, once it has been
	// silent for longer than silenceLimit and did not answer a probe;
	// zero while it answers.
	silentSince time.Time
	// proof is the last answer of a probe, or the observer's start.
	proof time.Time
	// probing is set while a probe runs; probed is when the last began.
	probing bool
	probed  time.Time
}

// startObserver connects to the router of ns on its local port. pid
// returns the router's process id (0 when not known).
func startObserver(ns namespaces.Namespace, port int, log *slog.Logger, onChange, onLiveness func(), pid func() int) (*observer, error) {
	cfg, err := amqpconn.LocalConfig(port, ns.RuntimeCertDir(render.LocalClientCreds))
	if err != nil {
		return nil, err
	}
	cfg.ContainerID = "skupperd-" + ns.Name
	cfg.QuietTick = quietTick
	cfg.Logger = log
	conn := amqpconn.New(cfg)
	o := &observer{
		port: port, cfg: cfg, conn: conn, log: log, onChange: onChange, onLiveness: onLiveness, pid: pid,
		burst: make(chan struct{}, 1), ports: newPortWatch(), poke: make(chan struct{}, 1),
		sub: vanflow.New(conn, vanflow.Options{Logger: log}), mgmt: mgmt.New(conn, mgmt.Options{Logger: log}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.ctx, o.cancel, o.proof = ctx, cancel, time.Now()
	o.wg.Add(4)
	go func() {
		defer o.wg.Done()
		o.hintSources(ctx)
	}()
	go func() {
		defer o.wg.Done()
		o.watchPorts(ctx)
	}()
	go func() {
		defer o.wg.Done()
		if err := o.sub.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("router observation ended", "error", err)
		}
	}()
	go func() {
		defer o.wg.Done()
		o.followChanges(ctx)
	}()
	return o, nil
}

// followChanges hands every change of the derived network status to
// onChange (and asks for a check of the listeners) until ctx ends. Record changes that do not change it (a LINK's
// byte counters move every second while it carries traffic) cost no status
// refresh. A change of the topology (routers, links, their peers, how many
// peers an access point holds) starts a fast phase of source hints.
func (o *observer) followChanges(ctx context.Context) {
	var last *vanflow.NetworkStatus
	var lastShape string
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.sub.Changes():
		}
		snap := o.sub.Snapshot()
		o.sub.Hint(peerSources(snap)...)
		if shape := topology(snap); shape != lastShape {
			lastShape = shape
			select {
			case o.burst <- struct{}{}:
			default:
			}
			// A restarted router, or a peer that appeared, may have left
			// a listener unable to listen.
			o.pokePorts()
		}
		n := vanflow.Network(snap)
		if last != nil && reflect.DeepEqual(*last, n) {
			continue
		}
		last = &n
		o.pokePorts()
		o.onChange()
	}
}

// topology summarises what of snap can reveal a new router in the
// network: the routers, each link's state and peer, and each access
// point's count of connected peers.
func topology(snap vanflow.Snapshot) string {
	var b strings.Builder
	for _, r := range snap.Routers {
		fmt.Fprintf(&b, "R %s;", r.ID)
	}
	for _, l := range snap.Links {
		fmt.Fprintf(&b, "L %s %s %s;", l.ID, l.OperStatus, l.Peer)
	}
	for _, a := range snap.RouterAccess {
		fmt.Fprintf(&b, "A %s %d;", a.ID, a.LinkCount)
	}
	return b.String()
}

// Source discovery: a router announces itself with a beacon every 10 s,
// too slow for status that should follow a link within moments. Every
// source's command address shows in the local router's address table about
// 2 s after a link comes up, and a LINK record names the remote access
// point it reached, so both are used to hint sources to the subscriber.
// The address table is read often after connecting and after each change
// of the topology, and not otherwise: beacons find what is left, and an
// idle daemon must not query 20 routers for tables that did not change.
const (
	hintFast       = time.Second // the address table's period in a fast phase
	hintFastTimes  = 20          // fast queries after connecting
	hintBurstTimes = 10          // fast queries after a topology change
)

// hintSources queries the router's address table for vanflow sources
// until ctx ends: every hintFast for hintFastTimes after connecting and
// for hintBurstTimes after each burst request, and not in between.
func (o *observer) hintSources(ctx context.Context) {
	fast := hintFastTimes
	for {
		if fast == 0 {
			select {
			case <-ctx.Done():
				return
			case <-o.burst:
				fast = hintBurstTimes
			}
		}
		t := time.NewTimer(hintFast)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-o.burst:
			t.Stop()
			fast = max(fast, hintBurstTimes)
			continue
		case <-t.C:
		}
		fast--
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = o.queryHints(qctx)
		cancel()
	}
}

// queryHints reads the router's address table and hints the sources it
// names to the subscriber.
func (o *observer) queryHints(ctx context.Context) error {
	rows, err := o.mgmt.Query(ctx, "router.address", "key")
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(rows))
	for _, row := range rows {
		if k, ok := row["key"].(string); ok {
			keys = append(keys, k)
		}
	}
	o.sub.Hint(vanflow.SourcesFromAddressKeys(keys)...)
	return nil
}

// peerSources names the sources of the remote access points the links of
// the snapshot reached: a peer "<src>:<n>" belongs to source "<src>:0".
func peerSources(s vanflow.Snapshot) []string {
	var ids []string
	for _, l := range s.Links {
		if src, _, ok := strings.Cut(l.Peer, ":"); ok && src != "" {
			ids = append(ids, src+":0")
		}
	}
	return ids
}

// Liveness: a router that runs but no longer answers (stopped with
// SIGSTOP, wedged) must not be reported Running. Proof that it answers
// costs nothing while it works: once subscribed to its own vanflow source
// the router sends a heartbeat every 2 s, and every message through the
// connection (beacons, records, heartbeats of any router, management
// replies) is one. After silenceLimit without any (three heartbeats
// missed), a fresh connection probes it: a router whose port accepts the
// connection but that does not complete the TLS and AMQP handshakes within
// probeTimeout does not answer, and is reported so until it answers
// again. A refused connection proves nothing either way (the router is
// not listening: starting, or gone, which its supervisor reports).
const (
	silenceLimit = 6 * time.Second
	probeTimeout = 3 * time.Second
	// sweepEvery is the period of the daemon's one liveness sweeper, which
	// looks at every observer (a timer per observer would wake the daemon
	// more often than the routers' heartbeats do).
	sweepEvery = 2 * time.Second
)

// quietTick is how often an observer's connection is read while it is
// quiet (amqpconn.Config.QuietTick): the routers' heartbeats and records
// that nothing asked for wait up to this long, and an idle daemon wakes
// this often for all its routers together instead of once per message.
const quietTick = 500 * time.Millisecond

// probeResult is what a probe of the router found.
type probeResult int

const (
	probeAnswered probeResult = iota // the handshakes completed
	probeHung                        // accepted, but no handshake within probeTimeout
	probeUnknown                     // refused, or another failure that is an answer of sorts
)

// lastAnswer is when the router last proved it answers (zero: never).
func (o *observer) lastAnswer() time.Time {
	a, b := o.sub.LastHeard(), o.mgmt.LastReply()
	if b.After(a) {
		a = b
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.proof.After(a) {
		a = o.proof
	}
	return a
}

// checkLiveness is the sweeper's look at the router at now: answering
// while it answered within silenceLimit, else probed (in the background,
// at most once per silenceLimit) and reported silent if the probe finds
// it hung. The last probe's verdict stands until the next one, or until
// the router answers.
func (o *observer) checkLiveness(now time.Time) {
	last := o.lastAnswer()
	if now.Sub(last) < silenceLimit {
		o.setSilent(time.Time{})
		return
	}
	o.mu.Lock()
	if o.probing || now.Sub(o.probed) < silenceLimit || o.ctx.Err() != nil {
		o.mu.Unlock()
		return
	}
	o.probing, o.probed = true, now
	o.wg.Add(1)
	o.mu.Unlock()
	go func() {
		defer o.wg.Done()
		res := o.probe(o.ctx)
		o.mu.Lock()
		o.probing = false
		if res == probeAnswered {
			o.proof = time.Now()
		}
		o.mu.Unlock()
		switch {
		case o.ctx.Err() != nil:
		case res == probeHung:
			o.setSilent(last)
		default:
			o.setSilent(time.Time{})
		}
	}()
}

// probe opens (and closes) a connection of its own to the router, apart
// from the observer's, whose redial backoff and management requests it
// neither waits for nor disturbs.
func (o *observer) probe(ctx context.Context) probeResult {
	cfg := o.cfg
	cfg.DialTimeout = probeTimeout
	cfg.ContainerID += "-probe"
	c := amqpconn.New(cfg)
	defer c.Close()
	_, err := c.Conn(ctx)
	var ne net.Error
	switch {
	case err == nil:
		return probeAnswered
	case ctx.Err() != nil:
		return probeUnknown // the observer stops
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		o.log.Debug("router probe timed out", "error", err)
		return probeHung
	}
	o.log.Debug("router probe failed", "error", err)
	return probeUnknown
}

// setSilent records since (zero: the router answers) and calls
// onLiveness when whether the router answers changed.
func (o *observer) setSilent(since time.Time) {
	o.mu.Lock()
	if o.ctx.Err() != nil { // stopped
		o.mu.Unlock()
		return
	}
	changed := o.silentSince.IsZero() != since.IsZero()
	if changed {
		o.silentSince = since
	}
	o.mu.Unlock()
	if !changed {
		return
	}
	if since.IsZero() {
		o.log.Info("the router answers again")
	} else {
		o.log.Warn("the router does not answer", "since", since.UTC().Format(time.RFC3339), "limit", silenceLimit)
	}
	o.onLiveness()
}

// silent reports since when the router has not answered, if it does not.
func (o *observer) silent() (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.silentSince, !o.silentSince.IsZero()
}

// state is the supervisor's state of the router, unless the router runs
// but does not answer: then it is not running, with a message naming it.
func (o *observer) state(st router.State) router.State {
	if o == nil || !st.Running {
		return st
	}
	since, silent := o.silent()
	if !silent {
		return st
	}
	return router.NotAnswering(st, since, silenceLimit)
}

// network is what the router reports now.
func (o *observer) network() *vanflow.NetworkStatus {
	n := o.sub.Network()
	return &n
}

// stop ends the observation and waits for its goroutines.
func (o *observer) stop() {
	o.mu.Lock()
	o.cancel() // under mu: no probe starts after this
	o.mu.Unlock()
	o.wg.Wait()
	_ = o.mgmt.Close()
	_ = o.conn.Close()
}

// sweeper checks the liveness of every registered observer every
// sweepEvery, from one goroutine that runs only while there are
// observers.
type sweeper struct {
	mu   sync.Mutex
	set  map[*observer]bool
	quit chan struct{} // closed to end the goroutine; nil: none runs
	done chan struct{} // closed when it ended
}

// add registers o, starting the goroutine if it is the first.
func (s *sweeper) add(o *observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = map[*observer]bool{}
	}
	s.set[o] = true
	if s.quit == nil {
		s.quit, s.done = make(chan struct{}), make(chan struct{})
		go s.run(s.quit, s.done)
	}
}

// remove unregisters o, ending the goroutine (and waiting for it) when o
// was the last.
func (s *sweeper) remove(o *observer) {
	s.mu.Lock()
	delete(s.set, o)
	var done chan struct{}
	if len(s.set) == 0 && s.quit != nil {
		close(s.quit)
		done = s.done
		s.quit, s.done = nil, nil
	}
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (s *sweeper) run(quit, done chan struct{}) {
	defer close(done)
	t := tick.New(sweepEvery) // at the instants of the quiet reads' ticks
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case now := <-t.C:
			s.mu.Lock()
			obs := make([]*observer, 0, len(s.set))
			for o := range s.set {
				obs = append(obs, o)
			}
			s.mu.Unlock()
			for _, o := range obs {
				o.checkLiveness(now)
			}
		}
	}
}
