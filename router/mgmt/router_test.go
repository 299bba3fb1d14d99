package mgmt

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"go.uber.org/goleak"

	"github.com/skupperd/skupperd/router/amqpconn"
	"github.com/skupperd/skupperd/test/routerproc"
	"github.com/skupperd/skupperd/test/testwait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// connect returns a connection client and a management client for r,
// closed when the test ends.
func connect(t *testing.T, r *routerproc.Router, timeout time.Duration) (*amqpconn.Client, *Client) {
	t.Helper()
	cfg, err := amqpconn.LocalConfig(r.Port, r.ClientBundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MinBackoff, cfg.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	conn := amqpconn.New(cfg)
	c := New(conn, Options{Timeout: timeout})
	t.Cleanup(func() {
		c.Close()
		if err := conn.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return conn, c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRouterManagement(t *testing.T) {
	r := routerproc.Start(t, routerproc.Options{ID: "mgmt-router"})
	_, c := connect(t, r, 5*time.Second)
	ctx := ctxT(t, 60*time.Second)

	// QUERY of a C-agent type by its short name: the client qualifies it.
	start := time.Now()
	rows, err := c.Query(ctx, "connection", "container", "role", "dir", "sasl", "user", "ssl")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first QUERY (connect + links + request): %s", time.Since(start))
	if len(rows) == 0 {
		t.Fatal("QUERY connection returned no rows")
	}
	var self map[string]any
	for _, row := range rows {
		if row["container"] == "skupperd" {
			self = row
		}
	}
	if self == nil || self["sasl"] != "EXTERNAL" || self["ssl"] != true || self["user"] != "CN=skupperd-test" {
		t.Fatalf("our own connection is not shown as mTLS + EXTERNAL: %v", rows)
	}

	// A Python-agent QUERY with two attribute names: an AMQP array here
	// would wedge the router, so the next request proves it was a list.
	if _, err := c.Query(ctx, "listener", "name", "port"); err != nil {
		t.Fatal(err)
	}
	router, err := c.Query(ctx, "router", "id", "mode")
	if err != nil || len(router) != 1 || router[0]["id"] != "mgmt-router" {
		t.Fatalf("QUERY router = %v, %v", router, err)
	}

	// CREATE / READ / duplicate CREATE / DELETE / DELETE again.
	port := strconv.Itoa(routerproc.FreePort(t))
	start = time.Now()
	created, err := c.Create(ctx, "tcpListener", "l1", map[string]any{"host": "127.0.0.1", "port": port, "address": "svc"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CREATE: %s", time.Since(start))
	if created["name"] != "l1" || created["port"] != port || created["identity"] == nil {
		t.Fatalf("CREATE returned %v", created)
	}
	read, err := c.Read(ctx, "tcpListener", "l1")
	if err != nil || read["address"] != "svc" || read["port"] != port {
		t.Fatalf("READ = %v, %v", read, err)
	}
	_, err = c.Create(ctx, "io.skupper.router.tcpListener", "l1", map[string]any{"host": "127.0.0.1", "port": port, "address": "svc"})
	if !IsConflict(err) {
		t.Fatalf("duplicate CREATE: %v, want a conflict", err)
	}
	if _, err := c.Create(ctx, "tcpListener", "bad", map[string]any{"port": port, "address": "svc", "bogus": 1}); err == nil || IsConflict(err) {
		t.Fatalf("CREATE with an unknown attribute: %v, want a 400 error that is not a conflict", err)
	}
	updated, err := c.Update(ctx, "tcpListener", "l1", map[string]any{"observer": "none"})
	if err != nil || updated["observer"] != "none" {
		t.Fatalf("UPDATE = %v, %v", updated, err)
	}
	if err := c.Delete(ctx, "tcpListener", "l1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "tcpListener", "l1"); !IsNotFound(err) {
		t.Fatalf("DELETE of a missing name: %v, want not found", err)
	}
	if _, err := c.Read(ctx, "tcpListener", "l1"); !IsNotFound(err) {
		t.Fatalf("READ of a deleted name: %v, want not found", err)
	}
	rows, err = c.Query(ctx, "tcpListener")
	if err != nil || len(rows) != 0 {
		t.Fatalf("tcpListeners after DELETE: %v, %v", rows, err)
	}
}

// TestRouterSkipsForeignReplies sends a stray message with another
// correlation id to the client's reply address: the client must skip it
// and still return the right reply.
func TestRouterSkipsForeignReplies(t *testing.T) {
	r := routerproc.Start(t, routerproc.Options{ID: "stray-router"})
	conn, c := connect(t, r, 5*time.Second)
	ctx := ctxT(t, 30*time.Second)
	if _, err := c.Query(ctx, "router", "id"); err != nil {
		t.Fatal(err)
	}
	c.sem <- struct{}{}
	replyTo := c.links.replyTo
	<-c.sem
	amqpConn, err := conn.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := amqpConn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	// An anonymous sender with "to", as for any routed address.
	snd, err := sess.NewSender(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	stray := &amqp.Message{
		Properties:            &amqp.MessageProperties{To: &replyTo, CorrelationID: "not-yours"},
		ApplicationProperties: map[string]any{"statusCode": int32(200)},
		Value:                 map[string]any{"attributeNames": []any{"id"}, "results": []any{[]any{"wrong"}}},
	}
	// Not Send: the router settles the delivery only once the client
	// accepts it, during its next call.
	if _, err := snd.SendWithReceipt(ctx, stray, nil); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	c.log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	testwait.For(t, 10*time.Second, "the stray reply to be skipped", func() (bool, string) {
		rows, err := c.Query(ctx, "router", "id")
		if err != nil || len(rows) != 1 || rows[0]["id"] != "stray-router" {
			t.Fatalf("QUERY = %v, %v", rows, err)
		}
		return strings.Contains(logged.String(), "got=not-yours"), "not skipped yet"
	})
}

func TestRouterReconnectAfterKill(t *testing.T) {
	r := routerproc.Start(t, routerproc.Options{ID: "restarted"})
	conn, c := connect(t, r, 3*time.Second)
	ctx := ctxT(t, 60*time.Second)
	if _, err := c.Query(ctx, "router", "id"); err != nil {
		t.Fatal(err)
	}
	if !conn.Connected() {
		t.Fatal("not Connected after a QUERY answered")
	}
	r.Kill()
	if _, err := c.Query(ctx, "router", "id"); err == nil {
		t.Fatal("QUERY succeeded with the router dead")
	}
	if conn.Connected() {
		t.Fatal("Connected with the router dead")
	}
	r.Restart()
	restarted := time.Now()
	testwait.For(t, 20*time.Second, "management to answer again after the restart", func() (bool, string) {
		rows, err := c.Query(ctx, "router", "id")
		if err != nil {
			return false, err.Error()
		}
		return len(rows) == 1, "no router row"
	})
	t.Logf("answered %s after the restarted router accepted connections", time.Since(restarted))
	if n := conn.Dials(); n != 2 {
		t.Errorf("%d connections made, want 2", n)
	}
}

// TestRouterTimeoutDoesNotWedge stops the router (SIGSTOP) during a
// request: the request times out, and once the router resumes the next
// request succeeds on fresh links.
func TestRouterTimeoutDoesNotWedge(t *testing.T) {
	r := routerproc.Start(t, routerproc.Options{ID: "hung"})
	_, c := connect(t, r, 500*time.Millisecond)
	ctx := ctxT(t, 60*time.Second)
	if _, err := c.Query(ctx, "router", "id"); err != nil {
		t.Fatal(err)
	}
	r.Signal(syscall.SIGSTOP)
	start := time.Now()
	_, err := c.Query(ctx, "router", "id")
	if err == nil {
		t.Fatal("QUERY to a stopped router succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timed-out request took %s", d)
	}
	// A caller's own deadline is honoured too.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = c.Query(short, "router", "id")
	cancel()
	if err == nil {
		t.Fatal("QUERY to a stopped router succeeded")
	}
	r.Signal(syscall.SIGCONT)
	testwait.For(t, 20*time.Second, "management to answer after SIGCONT", func() (bool, string) {
		rows, err := c.Query(ctx, "router", "id")
		if err != nil {
			return false, err.Error()
		}
		return len(rows) == 1 && rows[0]["id"] == "hung", "wrong rows"
	})
}
