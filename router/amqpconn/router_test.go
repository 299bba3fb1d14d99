package amqpconn

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/skupperd/skupperd/test/routerproc"
	"github.com/skupperd/skupperd/test/testwait"
)

// patchConn replaces every occurrence of old by new (same length) in what
// is written: a way to send, through go-amqp, a message it would never
// encode.
type patchConn struct {
	net.Conn
	old, new []byte
}

func (p *patchConn) Write(b []byte) (int, error) {
	return p.Conn.Write(bytes.ReplaceAll(b, p.old, p.new))
}

// logBuffer is a concurrency-safe slog sink for a test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRealRouterMalformedAnnotationsDropTheConnection sends, through the
// real router, a message whose message-annotations have a binary key to
// mc/sfe.all (which every router of a network forwards) from a client of
// another listener. go-amqp v1.7.0 panics decoding it in its own
// goroutine; the guard drops the connection with a logged error instead,
// the process lives on, and the next connection receives again.
func TestRealRouterMalformedAnnotationsDropTheConnection(t *testing.T) {
	plain := routerproc.FreePort(t)
	r := routerproc.Start(t, routerproc.Options{SiteID: "site-g", Entities: [][2]any{{"listener", map[string]any{
		"name": "plain", "host": "127.0.0.1", "port": strconv.Itoa(plain), "role": "normal",
		"saslMechanisms": "ANONYMOUS", "authenticatePeer": false}}}})
	cfg, err := LocalConfig(r.Port, r.ClientBundle)
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c := New(cfg)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const addr = "mc/sfe.all"
	receiver := func() *amqp.Receiver {
		conn, err := c.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := conn.NewSession(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		recv, err := sess.NewReceiver(ctx, addr, &amqp.ReceiverOptions{Credit: 16})
		if err != nil {
			t.Fatal(err)
		}
		return recv
	}
	recv := receiver()

	// The sender's go-amqp encodes the symbol key; its connection turns
	// the key's constructor into binary's (same length).
	raw, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(plain))
	if err != nil {
		t.Fatal(err)
	}
	key := "zz-poison-key"
	sym := append([]byte{0xa3, byte(len(key))}, key...)
	bin := append([]byte{0xa0, byte(len(key))}, key...)
	sconn, err := amqp.NewConn(ctx, &patchConn{Conn: raw, old: sym, new: bin}, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer sconn.Close()
	ssess, err := sconn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	send, err := ssess.NewSender(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	subject := "POISON"
	poison := &amqp.Message{Properties: &amqp.MessageProperties{Subject: &subject}, Annotations: amqp.Annotations{amqp.Symbol(key): "v"}}
	if err := send.Send(ctx, poison, &amqp.SendOptions{Settled: true}); err != nil {
		t.Fatal(err)
	}
	// Beacons may arrive first; the poison ends the connection.
	for {
		m, err := recv.Receive(ctx, nil)
		if err != nil {
			if !IsConnLost(err) {
				t.Fatalf("receive ended with %v, want a lost connection", err)
			}
			t.Logf("the receiver's connection ended: %v", err)
			break
		}
		if m.Properties != nil && m.Properties.Subject != nil && *m.Properties.Subject == subject {
			t.Fatalf("the malformed message was delivered: %+v", m)
		}
	}
	testwait.For(t, 10*time.Second, "the guard's log line", func() (bool, string) {
		return strings.Contains(logs.String(), "cannot be decoded safely") && strings.Contains(logs.String(), "unhashable"), logs.String()
	})
	if c.Connected() {
		t.Fatal("the connection is still in use after the malformed message")
	}

	// A new connection receives again: a well-formed message arrives.
	recv = receiver()
	subject = "FINE"
	fine := &amqp.Message{Properties: &amqp.MessageProperties{Subject: &subject}, Annotations: amqp.Annotations{amqp.Symbol("x-fine"): "v"}}
	testwait.For(t, 30*time.Second, "a well-formed message on the new connection", func() (bool, string) {
		if err := send.Send(ctx, fine, &amqp.SendOptions{Settled: true}); err != nil {
			return false, err.Error()
		}
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		defer rcancel()
		for {
			m, err := recv.Receive(rctx, nil)
			if errors.Is(err, context.DeadlineExceeded) {
				return false, "nothing yet"
			}
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			if m.Properties != nil && m.Properties.Subject != nil && *m.Properties.Subject == subject {
				return true, ""
			}
		}
	})
}

// TestRealRouterKeepsQuietConnection: a batched connection that says
// nothing for several of the router's idle timeouts is kept, since its
// ticks send the keepalives the router asks for (go-amqp, told of no
// idle-time-out, sends none). Without them the router would close it
// after one idle timeout (2 s here).
func TestRealRouterKeepsQuietConnection(t *testing.T) {
	const idle = 2 * time.Second
	r := routerproc.Start(t, routerproc.Options{LocalIdleTimeout: int(idle / time.Second)})
	cfg, err := LocalConfig(r.Port, r.ClientBundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QuietTick = 50 * time.Millisecond
	c := New(cfg)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := c.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The window the test is about: silence for three idle timeouts.
	time.Sleep(3 * idle)
	select {
	case <-conn.Done():
		t.Fatalf("the router closed the quiet connection: %v", conn.Err())
	default:
	}
	// It still answers: a session is a round trip.
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatalf("a session on the quiet connection: %v", err)
	}
	_ = sess.Close(ctx)
	if n := c.Dials(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}
