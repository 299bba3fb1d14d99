package vanflow

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/Azure/go-amqp"
	"github.com/skupperd/skupperd/router/amqpconn"
	"github.com/skupperd/skupperd/router/mgmt"
	"github.com/skupperd/skupperd/test/routerproc"
	"github.com/skupperd/skupperd/test/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// subscribe runs a Subscriber on r's local listener until the test ends.
func subscribe(t *testing.T, r *routerproc.Router, opts Options) *Subscriber {
	t.Helper()
	cfg, err := amqpconn.LocalConfig(r.Port, r.ClientBundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MinBackoff, cfg.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	conn := amqpconn.New(cfg)
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := New(conn, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
		if err := conn.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func describe(n NetworkStatus) string { return fmt.Sprintf("%+v", n) }

// TestRouterPairNetwork links two real routers (B dials A) and watches
// the derived network from B: two sites, B's link to A operational with
// A as its remote site, the routing key matched across sites; then A is
// killed: the link goes down at once and, once A's source is forgotten,
// the network shrinks to one site.
func TestRouterPairNetwork(t *testing.T) {
	irPort := routerproc.FreePort(t)
	backendPort := strconv.Itoa(routerproc.FreePort(t))
	a := routerproc.Start(t, routerproc.Options{ID: "routerA", SiteID: "site-A", SiteName: "siteA", Namespace: "nsA",
		InterRouterPort: irPort,
		Entities: [][2]any{{"tcpListener", map[string]any{"name": "backend", "host": "127.0.0.1",
			"port": strconv.Itoa(routerproc.FreePort(t)), "address": "backend"}}}})
	b := routerproc.Start(t, routerproc.Options{ID: "routerB", SiteID: "site-B", SiteName: "siteB", Namespace: "nsB",
		LinkPort: irPort, LinkName: "link-to-A",
		Entities: [][2]any{{"tcpConnector", map[string]any{"name": "backend", "host": "127.0.0.1", "port": backendPort, "address": "backend"}}}})
	start := time.Now()
	const forget = 4 * time.Second
	s := subscribe(t, b, Options{ForgetAfter: forget, FlushAfter: time.Second})

	testwait.For(t, 40*time.Second, "two sites with B's link to A operational", func() (bool, string) {
		n := s.Network()
		l, ok := n.Link("site-B", "link-to-A")
		return n.SitesInNetwork() == 2 && ok && l.Operational && l.RemoteSiteID == "site-A" && l.RemoteSiteName == "siteA", describe(n)
	})
	t.Logf("network with the link up observed %s after subscribing", time.Since(start).Round(time.Millisecond))
	n := s.Network()
	if !n.HasMatchingConnector("backend") || !n.HasMatchingListener("backend") {
		t.Errorf("backend is not matched network-wide: %s", describe(n))
	}
	if _, ok := n.Link("site-A", "link-to-A"); ok {
		t.Errorf("the accepting site lists the link: %s", describe(n))
	}
	snap := s.Snapshot()
	if len(snap.Routers) != 2 || len(snap.RouterAccess) != 1 || len(snap.Links) != 1 || snap.Links[0].Peer != snap.RouterAccess[0].ID {
		t.Errorf("snapshot: %+v", snap)
	}
	select { // drain, so that the next signal is about the kill
	case <-s.Changes():
	default:
	}

	a.Kill()
	killed := time.Now()
	testwait.For(t, 5*time.Second, "the link to the killed router to go down", func() (bool, string) {
		n := s.Network()
		l, ok := n.Link("site-B", "link-to-A")
		return ok && !l.Operational, describe(n)
	})
	t.Logf("link down observed %s after the kill", time.Since(killed).Round(time.Millisecond))
	select {
	case <-s.Changes():
	default:
		t.Error("no change was signalled for the link going down")
	}
	testwait.For(t, forget+15*time.Second, "the killed router's site to be forgotten", func() (bool, string) {
		n := s.Network()
		_, hasLink := n.Link("site-B", "link-to-A")
		return n.SitesInNetwork() == 1 && !hasLink && !n.HasMatchingListener("backend"), describe(n)
	})
	t.Logf("site count back to 1 %s after the kill (forget after %s)", time.Since(killed).Round(time.Millisecond), forget)
}

// TestRouterSubscriberSurvivesRestart kills and restarts the router the
// subscriber is connected to: the records are dropped when the connection
// is lost, and the subscriber reconnects and sees the restarted router's
// records.
func TestRouterSubscriberSurvivesRestart(t *testing.T) {
	r := routerproc.Start(t, routerproc.Options{ID: "solo", SiteID: "site-S", Namespace: "nsS"})
	s := subscribe(t, r, Options{ForgetAfter: 3 * time.Second, FlushAfter: time.Second})
	oneRouter := func() (bool, string) {
		snap := s.Snapshot()
		return len(snap.Sites) == 1 && len(snap.Routers) == 1 && snap.Routers[0].Parent == "site-S", fmt.Sprintf("%+v", snap)
	}
	testwait.For(t, 30*time.Second, "the router's site and router records", oneRouter)
	first := s.Snapshot().Routers[0].ID
	r.Kill()
	killed := time.Now()
	testwait.For(t, 5*time.Second, "the dead router's records to be dropped", func() (bool, string) {
		snap := s.Snapshot()
		return len(snap.Sites)+len(snap.Routers) == 0, fmt.Sprintf("%+v", snap)
	})
	t.Logf("records dropped %s after the kill", time.Since(killed).Round(time.Millisecond))
	r.Restart()
	restarted := time.Now()
	testwait.For(t, 30*time.Second, "the restarted router's records, the old ones forgotten", func() (bool, string) {
		ok, why := oneRouter()
		return ok && s.Snapshot().Routers[0].ID != first, why
	})
	t.Logf("restarted router observed after %s", time.Since(restarted).Round(time.Millisecond))
}

// fakeController is a vanflow CONTROLLER source (as a Kubernetes site's
// controller is) connected to a real router: it beacons, sends heartbeats
// on its ".heartbeats" address, and answers FLUSH with one SITE record.
type fakeController struct {
	beacons, heartbeats atomic.Bool
	flushes             atomic.Int32
}

func startController(t *testing.T, r *routerproc.Router, id, siteID string) *fakeController {
	t.Helper()
	cfg, err := amqpconn.LocalConfig(r.Port, r.ClientBundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ContainerID = "fake-controller"
	conn := amqpconn.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	fc := &fakeController{}
	fc.beacons.Store(true)
	fc.heartbeats.Store(true)
	c, err := conn.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	direct := "sfe." + id
	address := "mc/sfe." + id
	flushRecv, err := sess.NewReceiver(ctx, direct, &amqp.ReceiverOptions{Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	send, err := sess.NewSender(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sendTo := func(to, subject string, props map[string]any, body any) {
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		defer scancel()
		_ = send.Send(sctx, &amqp.Message{Properties: &amqp.MessageProperties{To: &to, Subject: &subject},
			ApplicationProperties: props, Value: body}, nil)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // answer FLUSH with the SITE record
		defer wg.Done()
		for {
			msg, err := flushRecv.Receive(ctx, nil)
			if err != nil {
				return
			}
			_ = flushRecv.AcceptMessage(ctx, msg)
			if msg.Properties != nil && msg.Properties.Subject != nil && *msg.Properties.Subject == "FLUSH" {
				fc.flushes.Add(1)
				sendTo(address, "RECORD", nil, []any{map[any]any{AttrType: uint32(TypeSite), AttrIdentity: siteID, AttrName: "kube", AttrPlatform: "kubernetes"}})
			}
		}
	}()
	go func() { // beacons and heartbeats, as long as enabled
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if fc.beacons.Load() {
				sendTo(BeaconAddress, "BEACON", map[string]any{"v": uint32(1), "sourceType": "CONTROLLER", "id": id, "address": address, "direct": direct}, nil)
			}
			if fc.heartbeats.Load() {
				sendTo(address+".heartbeats", "HEARTBEAT", map[string]any{"v": uint32(1), "id": id, "now": uint64(time.Now().UnixMicro())}, nil)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = conn.Close()
	})
	return fc
}

// TestRouterControllerSource checks the subscriber against a CONTROLLER
// source through a real router: its records arrive after a FLUSH, its
// heartbeats (on ".heartbeats") keep it alive without beacons, and it is
// forgotten once it falls silent.
func TestRouterControllerSource(t *testing.T) {
	r := routerproc.Start(t, routerproc.Options{ID: "ctl-router", SiteID: "site-R", Namespace: "nsR"})
	const forget = 2 * time.Second
	s := subscribe(t, r, Options{ForgetAfter: forget, FlushAfter: 500 * time.Millisecond})
	fc := startController(t, r, "ctl-1", "kube-site")
	hasKube := func() (bool, string) {
		n := s.Network()
		_, ok := n.Site("kube-site")
		return ok, describe(n)
	}
	testwait.For(t, 30*time.Second, "the controller's SITE record", hasKube)
	if fc.flushes.Load() == 0 {
		t.Fatal("the record arrived without a FLUSH")
	}
	fc.beacons.Store(false)
	// Heartbeats alone keep the source: for three forget periods it stays.
	if ok, _ := testwait.Poll(3*forget, func() (bool, string) { ok, why := hasKube(); return !ok, why }); ok {
		t.Fatal("the controller was forgotten although it kept sending heartbeats")
	}
	fc.heartbeats.Store(false)
	silent := time.Now()
	testwait.For(t, forget+5*time.Second, "the silent controller to be forgotten", func() (bool, string) {
		ok, why := hasKube()
		return !ok, why
	})
	t.Logf("silent controller forgotten after %s (forget after %s)", time.Since(silent).Round(time.Millisecond), forget)
}

// TestRouterHintedSources discovers the sources from management
// (router.address) instead of beacons, as the daemon can: the network is
// known within moments of the hint rather than after the next beacon.
func TestRouterHintedSources(t *testing.T) {
	irPort := routerproc.FreePort(t)
	routerproc.Start(t, routerproc.Options{ID: "routerA", SiteID: "site-A", SiteName: "siteA", InterRouterPort: irPort})
	b := routerproc.Start(t, routerproc.Options{ID: "routerB", SiteID: "site-B", SiteName: "siteB", LinkPort: irPort, LinkName: "link-to-A"})
	s := subscribe(t, b, Options{FlushAfter: time.Second})

	cfg, err := amqpconn.LocalConfig(b.Port, b.ClientBundle)
	if err != nil {
		t.Fatal(err)
	}
	conn := amqpconn.New(cfg)
	m := mgmt.New(conn, mgmt.Options{})
	t.Cleanup(func() { m.Close(); conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ids []string
	testwait.For(t, 20*time.Second, "both routers' vanflow addresses in router.address", func() (bool, string) {
		rows, err := m.Query(ctx, "router.address", "key")
		if err != nil {
			return false, err.Error()
		}
		var keys []string
		for _, r := range rows {
			if k, ok := r["key"].(string); ok {
				keys = append(keys, k)
			}
		}
		ids = SourcesFromAddressKeys(keys)
		return len(ids) == 2, fmt.Sprint(keys)
	})
	s.Hint(ids...)
	hinted := time.Now()
	testwait.For(t, 30*time.Second, "two sites with B's link to A operational", func() (bool, string) {
		n := s.Network()
		l, ok := n.Link("site-B", "link-to-A")
		return n.SitesInNetwork() == 2 && ok && l.Operational && l.RemoteSiteID == "site-A", describe(n)
	})
	d := time.Since(hinted)
	t.Logf("network observed %s after the hint", d.Round(time.Millisecond))
	if d > 5*time.Second {
		t.Errorf("hinted sources took %s, as long as waiting for beacons", d)
	}
}

// TestRouterProbesNewSource: a hinted source that has sent nothing yet (no
// beacon, no heartbeat) is asked to FLUSH at once and again every
// flushProbeEvery, so its records come without waiting for its first
// heartbeat or for FlushAfter; once records answered a FLUSH sent after
// its first message, the probes stop. (The source is a controller hinted
// as a router, as the address table hints it before its beacon comes.)
func TestRouterProbesNewSource(t *testing.T) {
	r := routerproc.Start(t, routerproc.Options{ID: "probe-router", SiteID: "site-P", Namespace: "nsP"})
	s := subscribe(t, r, Options{FlushAfter: time.Hour})
	fc := startController(t, r, "quiet-1", "quiet-site")
	fc.beacons.Store(false)
	fc.heartbeats.Store(false)
	s.Hint("quiet-1")
	testwait.For(t, 30*time.Second, "the silent source's SITE record", func() (bool, string) {
		n := s.Network()
		_, ok := n.Site("quiet-site")
		return ok, describe(n)
	})
	// The answer to a probe is the first message: one more FLUSH follows
	// it, whose answer ends the probing (FlushAfter is an hour).
	var settled int32
	testwait.For(t, 30*time.Second, "the probes to stop", func() (bool, string) {
		n := fc.flushes.Load()
		if ok, _ := testwait.Poll(3*flushProbeEvery, func() (bool, string) { return fc.flushes.Load() != n, "" }); ok {
			return false, fmt.Sprintf("%d FLUSHes and counting", fc.flushes.Load())
		}
		settled = n
		return true, ""
	})
	if settled < 2 {
		t.Errorf("%d FLUSHes: want a probe and the FLUSH after the first message", settled)
	}
}
