package vanflow

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/skupperd/skupperd/internal/tick"
	"github.com/skupperd/skupperd/router/amqpconn"
)

// BeaconAddress is where every event source announces itself.
const BeaconAddress = "mc/sfe.all"

// Defaults for Options fields left zero (upstream's values, §6.7).
const (
	DefaultForgetAfter = 30 * time.Second
	DefaultFlushAfter  = 5 * time.Second
)

// resubscribeDelay paces retries when links fail on a live connection.
const resubscribeDelay = time.Second

// Options configure a Subscriber.
type Options struct {
	// ForgetAfter is how long a source may stay silent (no beacon, record
	// or heartbeat) before it is forgotten and its records purged. Zero
	// means DefaultForgetAfter.
	ForgetAfter time.Duration
	// FlushAfter is how long to wait for a first message from a new source
	// before asking it to FLUSH anyway. Zero means DefaultFlushAfter.
	FlushAfter time.Duration
	// Logger receives source and link events; nil discards them.
	Logger *slog.Logger
}

// Subscriber receives vanflow events through one router connection and
// keeps the network's records. Run drives it; Snapshot, Network and
// Changes may be used from any goroutine, before, during and after Run.
type Subscriber struct {
	conn    *amqpconn.Client
	opts    Options
	log     *slog.Logger
	store   *Store
	changes chan struct{}

	// kick asks the session to start receivers for new hinted sources.
	kick chan struct{}
	// heardAt is when the router last proved it answers (UnixNano): a
	// session opened, or any message arrived through it.
	heardAt atomic.Int64

	mu      sync.Mutex
	sources map[string]*source
}

// source is one event source (a router) seen in a beacon.
type source struct {
	id, address, direct string
	lastSeen            time.Time
	// session is the session whose receiver serves the source; nil when
	// no receiver runs (e.g. after our connection was lost).
	session *amqp.Session
	cancel  context.CancelFunc
	// controller is true for CONTROLLER sources, which send heartbeats on
	// address + ".heartbeats".
	controller bool
}

// New returns a subscriber using conn's connection (which the caller
// keeps owning).
func New(conn *amqpconn.Client, opts Options) *Subscriber {
	if opts.ForgetAfter <= 0 {
		opts.ForgetAfter = DefaultForgetAfter
	}
	if opts.FlushAfter <= 0 {
		opts.FlushAfter = DefaultFlushAfter
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Subscriber{conn: conn, opts: opts, log: log, store: NewStore(),
		changes: make(chan struct{}, 1), kick: make(chan struct{}, 1), sources: map[string]*source{}}
}

// Changes delivers a signal after the records changed. Signals are
// coalesced: one pending signal stands for any number of changes, so a
// reader takes Snapshot or Network after each one.
func (s *Subscriber) Changes() <-chan struct{} { return s.changes }

// Snapshot returns the records known now.
func (s *Subscriber) Snapshot() Snapshot { return s.store.Snapshot() }

// Network derives the network status from the records known now.
func (s *Subscriber) Network() NetworkStatus { return Network(s.store.Snapshot()) }

// LastHeard is when the router the subscriber is connected to last
// answered: a subscription was opened on it, or a message (beacon, record
// or heartbeat, of any source, all of which it forwards) arrived through
// it. Zero before the first. A router sends a heartbeat every 2 s on each
// subscribed source address, so a subscriber receiving the router's own
// source hears it at least that often while it works.
func (s *Subscriber) LastHeard() time.Time {
	n := s.heardAt.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (s *Subscriber) answered() { s.heardAt.Store(time.Now().UnixNano()) }

// Sources returns the ids of the sources currently known, sorted.
func (s *Subscriber) Sources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.sources))
	for id := range s.sources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (s *Subscriber) notify() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// Run subscribes until ctx ends, then returns ctx's error after every
// goroutine it started has ended; call it once at a time. It
// (re)connects through the amqpconn.Client, whose backoff paces retries.
//
// When the connection is lost (the local router stopped or restarted),
// every record is dropped at once: all of them were observed through that
// router, and a restarted router's old records (e.g. a LINK still "up")
// would otherwise linger until their source is forgotten. Upstream
// likewise restarts its collector. The sources are kept, so that right
// after reconnecting they are received and FLUSHed again; those that stay
// silent are forgotten after ForgetAfter, connected or not.
func (s *Subscriber) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.janitor(ctx) }()
	defer wg.Wait()
	for ctx.Err() == nil {
		conn, err := s.conn.Conn(ctx)
		if err != nil {
			if errors.Is(err, amqpconn.ErrClosed) {
				s.log.Debug("vanflow: connection client closed; waiting for the context to end")
				<-ctx.Done()
				break
			}
			s.log.Debug("vanflow: cannot connect", "err", err)
			continue
		}
		err = s.session(ctx, conn)
		if ctx.Err() != nil {
			break
		}
		s.log.Debug("vanflow: subscription ended, resubscribing", "err", err)
		select {
		case <-conn.Done(): // lost: Conn redials, with its backoff
			s.dropRecords()
		default:
			// The connection is alive (management may be using it) but a
			// link was refused: retry on it after a pause, not in a spin.
			t := time.NewTimer(resubscribeDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	return ctx.Err()
}

// janitor forgets silent sources, looking every janitorEvery (at most a
// quarter of ForgetAfter), so a source is forgotten at most that long
// after ForgetAfter. Its ticks are the process's shared ones (package
// internal/tick): they cost an idle daemon no wakeup of their own.
func (s *Subscriber) janitor(ctx context.Context) {
	t := tick.New(max(min(janitorEvery, s.opts.ForgetAfter/4), time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.forgetSilent(now)
		}
	}
}

// janitorEvery is the janitor's period for the default ForgetAfter.
const janitorEvery = 2 * time.Second

// forgetSilent forgets the sources silent for ForgetAfter at now. A
// source added later is due no sooner than ForgetAfter after it was
// added.
func (s *Subscriber) forgetSilent(now time.Time) {
	// Records are purged under s.mu, the lock receivers hold while they
	// apply records, so a forgotten source's records cannot come back.
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, src := range s.sources {
		if now.Before(src.lastSeen.Add(s.opts.ForgetAfter)) {
			continue
		}
		delete(s.sources, id)
		if src.cancel != nil {
			src.cancel()
		}
		n := s.store.Forget(src.id)
		s.log.Info("vanflow: forgot silent source", "source", src.id, "records", n)
		if n > 0 {
			s.notify()
		}
	}
}

// dropRecords empties the store (sources stay known).
func (s *Subscriber) dropRecords() {
	s.mu.Lock()
	n := s.store.Clear()
	s.mu.Unlock()
	if n > 0 {
		s.log.Info("vanflow: connection to the router lost; dropped its records", "records", n)
		s.notify()
	}
}

// heard records a message from src and applies recs, unless src has been
// forgotten (or replaced) meanwhile. It reports whether the records
// changed.
func (s *Subscriber) heard(src *source, recs []Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sources[src.id] != src {
		return false
	}
	src.lastSeen = time.Now()
	return len(recs) > 0 && s.store.Apply(src.id, recs)
}

// session subscribes to beacons on one connection and starts a receiver
// per source. It returns when ctx ends or the connection or a link fails,
// after the goroutines it started have ended.
func (s *Subscriber) session(ctx context.Context, conn *amqp.Conn) error {
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		_ = sess.Close(cctx)
		ccancel()
	}()
	beacons, err := sess.NewReceiver(sctx, BeaconAddress, &amqp.ReceiverOptions{Credit: 16})
	if err != nil {
		return err
	}
	flush, err := sess.NewSender(sctx, "", nil) // anonymous: FLUSH goes to each source's direct address
	if err != nil {
		return err
	}
	s.answered()
	s.log.Debug("vanflow: subscribed", "address", BeaconAddress)
	// Sources already known (from before a reconnect, or hinted) are
	// received at once, without waiting for their next beacon.
	s.startReceivers(sctx, sess, flush, &wg)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-sctx.Done():
				return
			case <-s.kick:
				s.startReceivers(sctx, sess, flush, &wg)
			}
		}
	}()
	for {
		msg, err := beacons.Receive(sctx, nil)
		if err != nil {
			return err
		}
		s.answered()
		_ = beacons.AcceptMessage(sctx, msg)
		if subject(msg) != "BEACON" {
			continue
		}
		id, _ := msg.ApplicationProperties["id"].(string)
		address, _ := msg.ApplicationProperties["address"].(string)
		direct, _ := msg.ApplicationProperties["direct"].(string)
		sourceType, _ := msg.ApplicationProperties["sourceType"].(string)
		if id == "" || address == "" {
			continue
		}
		s.mu.Lock()
		src := s.sources[id]
		if src == nil {
			src = &source{id: id}
			s.sources[id] = src
			s.log.Info("vanflow: new source", "source", id, "address", address)
		}
		src.lastSeen = time.Now()
		controller := sourceType == "CONTROLLER"
		if src.address != address || src.direct != direct || src.controller != controller {
			// New coordinates (e.g. a hinted source turned out to be a
			// controller): receive again with them.
			src.address, src.direct, src.controller = address, direct, controller
			if src.cancel != nil {
				src.cancel()
			}
			src.session, src.cancel = nil, nil
		}
		s.mu.Unlock()
		s.startReceivers(sctx, sess, flush, &wg)
	}
}

// startReceivers starts a receiver on sess for every known source that
// has none there. wg tracks them.
func (s *Subscriber) startReceivers(ctx context.Context, sess *amqp.Session, flush *amqp.Sender, wg *sync.WaitGroup) {
	type start struct {
		src             *source
		ctx             context.Context
		address, direct string
		controller      bool
	}
	var starts []start
	s.mu.Lock()
	for _, src := range s.sources {
		if src.session == sess || src.address == "" {
			continue
		}
		if src.cancel != nil {
			src.cancel()
		}
		rctx, rcancel := context.WithCancel(ctx)
		src.session, src.cancel = sess, rcancel
		starts = append(starts, start{src, rctx, src.address, src.direct, src.controller})
	}
	s.mu.Unlock()
	for _, st := range starts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.receive(st.ctx, sess, flush, st.src, st.address, st.direct, st.controller)
			s.mu.Lock()
			if st.src.session == sess {
				st.src.session = nil // a later beacon restarts it
			}
			s.mu.Unlock()
			if st.ctx.Err() == nil {
				s.log.Debug("vanflow: source receiver ended", "source", st.src.id, "err", err)
			}
		}()
	}
}

// Hint makes the subscriber receive from the router sources ids (vanflow
// source ids such as "84ha6:0") right away, instead of waiting up to 10 s
// for their beacons: each gets address "mc/sfe.<id>" and direct address
// "sfe.<id>", the router's convention (§6.1). A hinted id that is no live
// source is forgotten after ForgetAfter like any silent source; a later
// beacon corrects the coordinates. Use SourcesFromAddressKeys to find ids
// in the router's router.address entities. Hint never blocks.
func (s *Subscriber) Hint(ids ...string) {
	added := false
	s.mu.Lock()
	for _, id := range ids {
		if id == "" || s.sources[id] != nil {
			continue
		}
		s.sources[id] = &source{id: id, address: "mc/sfe." + id, direct: "sfe." + id, lastSeen: time.Now()}
		s.log.Info("vanflow: new source (hint)", "source", id)
		added = true
	}
	s.mu.Unlock()
	if added {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// SourcesFromAddressKeys returns the vanflow source ids named by the
// "key" column of io.skupper.router.router.address rows: every source's
// command address "sfe.<id>" shows there as "Msfe.<id>" on every router of
// the network once routes converge (about 2 s after a link comes up),
// sooner than its first beacon. The result is sorted and de-duplicated.
func SourcesFromAddressKeys(keys []string) []string {
	var ids []string
	for _, k := range keys {
		id, ok := strings.CutPrefix(k, "Msfe.")
		if !ok || id == "" || strings.ContainsAny(id, "/") {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}

func subject(m *amqp.Message) string {
	if m.Properties == nil || m.Properties.Subject == nil {
		return ""
	}
	return *m.Properties.Subject
}

// receive takes RECORDs and HEARTBEATs from one source until ctx ends or
// the link fails. It asks the source to FLUSH, so that it re-emits all its
// records (changes made before we subscribed are not replayed otherwise).
//
// A FLUSH is lost when it arrives before the routes are in place: a source
// emits records only while its router knows of a subscriber, and a remote
// router learns of ours only at our router's next mobile-address sync (a
// 1 s timer; about 2 s on a link that has just come up); our router, too,
// must have learnt the route to the source's command address. So receive
// probes: a FLUSH at once and every flushProbeEvery, until records answer
// one sent after the first message (which proves the route to us), for
// FlushAfter at most. A probe that arrives after the sync is answered
// within the source's 1 s flush cycle, sooner than waiting for its first
// heartbeat (every 2 s) and flushing then; a later probe repairs one that
// was lost.
//
// Controllers (sourceType CONTROLLER, e.g. a Kubernetes site's controller)
// send their heartbeats on address + ".heartbeats"; those are received too.
func (s *Subscriber) receive(ctx context.Context, sess *amqp.Session, flush *amqp.Sender, src *source, address, direct string, controller bool) error {
	id := src.id
	recv, err := sess.NewReceiver(ctx, address, &amqp.ReceiverOptions{Credit: 256})
	if err != nil {
		return err
	}
	if controller {
		hctx, hcancel := context.WithCancel(ctx)
		hdone := make(chan struct{})
		go func() { defer close(hdone); s.heartbeats(hctx, sess, src, address+".heartbeats") }()
		defer func() { hcancel(); <-hdone }()
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = recv.Close(cctx)
		cancel()
	}()
	// Probing (see above) lasts until records answer a FLUSH sent after
	// the first message, which found the route to us in place. It ends
	// after FlushAfter regardless; the checks below take over (for a
	// router, whose own ROUTER record must come).
	start := time.Now()
	probing := direct != ""
	probeAt := start
	var firstAt time.Time      // when the first message arrived
	flushedSinceFirst := false // a FLUSH went out after the first message
	flushed := true            // false: the last FLUSH failed; retried at flushBy
	var flushBy, lastFlush time.Time
	probe := func(now time.Time) {
		lastFlush = now
		sent := s.sendFlush(ctx, flush, id, direct)
		if sent && !firstAt.IsZero() {
			flushedSinceFirst = true
		}
		if now.Sub(start) < s.opts.FlushAfter {
			probeAt = now.Add(flushProbeEvery)
			return
		}
		probing, flushed, flushBy = false, sent, now.Add(s.opts.FlushAfter)
	}
	for {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		switch {
		case probing:
			rctx, cancel = context.WithDeadline(ctx, probeAt)
		case !flushed:
			rctx, cancel = context.WithDeadline(ctx, flushBy)
		}
		msg, err := recv.Receive(rctx, nil)
		cancel()
		now := time.Now()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				if probing {
					probe(now)
				} else {
					lastFlush = now
					if flushed = s.sendFlush(ctx, flush, id, direct); !flushed {
						flushBy = now.Add(s.opts.FlushAfter)
					}
				}
				continue
			}
			return err
		}
		s.answered()
		_ = recv.AcceptMessage(ctx, msg)
		var recs []Record
		if subject(msg) == "RECORD" {
			var derr error
			recs, derr = DecodeRecords(msg.Value)
			if derr != nil {
				s.log.Debug("vanflow: malformed record", "source", id, "err", derr)
			}
		}
		if s.heard(src, recs) {
			s.notify()
		}
		if firstAt.IsZero() {
			firstAt = now
		}
		if probing {
			switch {
			case flushedSinceFirst && answersFlush(recs):
				probing = false
			case !flushedSinceFirst || !now.Before(probeAt):
				probe(now)
			}
			continue
		}
		switch {
		case !flushed || direct == "":
		case len(recs) > 0 && s.store.Untyped(recs) && now.Sub(lastFlush) >= s.opts.FlushAfter:
			// A patch for a record we never saw whole: its first emission
			// (or our FLUSH) was lost, e.g. sent before the route to us
			// existed. Ask the source for everything again.
			s.log.Debug("vanflow: incomplete records; flushing again", "source", id)
			flushed = false
		case !controller && now.Sub(lastFlush) >= s.opts.FlushAfter && !s.store.Typed(id):
			// A router's own ROUTER record has the source's id: until it
			// arrives, the FLUSH was lost (e.g. sent before the route to
			// the source's command address reached our router).
			s.log.Debug("vanflow: no ROUTER record after a FLUSH; flushing again", "source", id)
			flushed = false
		case now.Sub(lastFlush) >= reflushEvery:
			// A FLUSH lost on its way leaves records that never change
			// unseen; asking again now and then heals that.
			flushed = false
		}
		if !flushed {
			lastFlush = now
			if flushed = s.sendFlush(ctx, flush, id, direct); !flushed {
				flushBy = now.Add(s.opts.FlushAfter)
			}
		}
	}
}

// answersFlush reports whether recs are what a FLUSH makes a source send:
// records emitted whole, with their type (changes come without it). The
// source's kind does not matter, so a controller hinted as a router (its
// beacon not seen yet) stops being probed as soon as one of its records
// comes.
func answersFlush(recs []Record) bool {
	for _, r := range recs {
		if _, typed := r.Type(); typed {
			return true
		}
	}
	return false
}

// flushProbeEvery is how often a new source is asked to FLUSH while
// probing. Under the source's 1 s flush cycle, so that every cycle after
// our subscription reached it has a FLUSH pending.
const flushProbeEvery = 500 * time.Millisecond

// reflushEvery is how often a source is asked to FLUSH again, so that
// records missed through a lost FLUSH are eventually received. The usual
// losses (no ROUTER record yet, a patch for an unknown record) are healed
// within FlushAfter by the checks above; this is the last resort, and
// each FLUSH makes the source re-send every record, which the subscriber
// decodes and compares: over 20 idle routers, a FLUSH to each every 5
// minutes was a tenth of an idle daemon's CPU. So it is rare.
const reflushEvery = 30 * time.Minute

// heartbeats keeps a controller source alive from its heartbeat address
// until ctx ends or the link fails.
func (s *Subscriber) heartbeats(ctx context.Context, sess *amqp.Session, src *source, address string) {
	recv, err := sess.NewReceiver(ctx, address, &amqp.ReceiverOptions{Credit: 16})
	if err != nil {
		s.log.Debug("vanflow: cannot receive heartbeats", "source", src.id, "err", err)
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = recv.Close(cctx)
		cancel()
	}()
	for {
		msg, err := recv.Receive(ctx, nil)
		if err != nil {
			return
		}
		s.answered()
		_ = recv.AcceptMessage(ctx, msg)
		s.heard(src, nil)
	}
}

// sendFlush asks source id to re-emit its records; it reports success.
func (s *Subscriber) sendFlush(ctx context.Context, flush *amqp.Sender, id, direct string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	subj := "FLUSH"
	// Presettled: no outcome comes back from the (possibly remote) source,
	// so nothing a remote party settles is decoded here.
	err := flush.Send(ctx, &amqp.Message{Properties: &amqp.MessageProperties{To: &direct, Subject: &subj}}, &amqp.SendOptions{Settled: true})
	if err != nil {
		s.log.Debug("vanflow: flush failed", "source", id, "err", err)
		return false
	}
	s.log.Debug("vanflow: flushed", "source", id)
	return true
}
