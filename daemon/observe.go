package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router/amqpconn"
	"github.com/skupperd/skupperd/router/mgmt"
	"github.com/skupperd/skupperd/router/vanflow"
)

// observer follows one namespace's running router: a vanflow
// subscription over the router's skupper-local listener (mutual TLS, SASL
// EXTERNAL with the site's own client certificate). Each change of the
// network the router reports is handed to onChange; the worker then
// refreshes the namespace's status without a full reconcile.
type observer struct {
	port   int
	sub    *vanflow.Subscriber
	mgmt   *mgmt.Client
	conn   *amqpconn.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger

	// onChange asks the worker to refresh the namespace's status; pid is
	// the router's process (0: not known).
	onChange func()
	pid      func() int
	// applyMu serialises changes to the router's entities: a hot apply
	// (the worker) and the retry of a listener that could not listen
	// (watchPorts).
	applyMu sync.Mutex
	// ports follows the listeners that cannot listen (ports.go); poke
	// asks for a check now.
	ports *portWatch
	poke  chan struct{}
}

// startObserver connects to the router of ns on its local port. pid
// returns the router's process id (0 when not known).
func startObserver(ns namespaces.Namespace, port int, log *slog.Logger, onChange func(), pid func() int) (*observer, error) {
	cfg, err := amqpconn.LocalConfig(port, ns.RuntimeCertDir(render.LocalClientCreds))
	if err != nil {
		return nil, err
	}
	cfg.ContainerID = "skupperd-" + ns.Name
	cfg.Logger = log
	conn := amqpconn.New(cfg)
	o := &observer{
		port: port, conn: conn, sub: vanflow.New(conn, vanflow.Options{Logger: log}), mgmt: mgmt.New(conn, mgmt.Options{Logger: log}),
		log: log, onChange: onChange, pid: pid, ports: newPortWatch(), poke: make(chan struct{}, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
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
		for {
			select {
			case <-ctx.Done():
				return
			case <-o.sub.Changes():
				o.sub.Hint(peerSources(o.sub.Snapshot())...)
				// A restarted router, or a connector that appeared, may
				// have left a listener unable to listen.
				o.pokePorts()
				onChange()
			}
		}
	}()
	return o, nil
}

// Source discovery: a router announces itself with a beacon every 10 s,
// too slow for status that should follow a link within moments. Every
// source's command address shows in the local router's address table about
// 2 s after a link comes up, and a LINK record names the remote access
// point it reached, so both are used to hint sources to the subscriber.
const (
	hintFast      = time.Second // the address table's period after connecting
	hintFastTimes = 20          // how many fast queries
	hintSlow      = time.Minute // afterwards (beacons and LINK peers also find sources)
)

// hintSources queries the router's address table for vanflow sources
// until ctx ends: often at first, then slowly.
func (o *observer) hintSources(ctx context.Context) {
	for i := 0; ; i++ {
		period := hintSlow
		if i < hintFastTimes {
			period = hintFast
		}
		t := time.NewTimer(period)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rows, err := o.mgmt.Query(qctx, "router.address", "key")
		cancel()
		if err != nil {
			continue
		}
		keys := make([]string, 0, len(rows))
		for _, row := range rows {
			if k, ok := row["key"].(string); ok {
				keys = append(keys, k)
			}
		}
		o.sub.Hint(vanflow.SourcesFromAddressKeys(keys)...)
	}
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

// network is what the router reports now.
func (o *observer) network() *vanflow.NetworkStatus {
	n := o.sub.Network()
	return &n
}

// stop ends the observation and waits for its goroutines.
func (o *observer) stop() {
	o.cancel()
	o.wg.Wait()
	_ = o.mgmt.Close()
	_ = o.conn.Close()
}
