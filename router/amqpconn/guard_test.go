package amqpconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
)

// transferFrame encodes a transfer frame on channel for link handle with
// payload (more: not the message's last frame).
func transferFrame(channel uint16, handle byte, more bool, payload []byte) []byte {
	flag := byte(0x42)
	if more {
		flag = 0x41
	}
	fields := []byte{0x52, handle, 0x52, 0x00, 0xa0, 0x01, 'x', 0x43, 0x41, flag}
	body := append([]byte{0x00, 0x53, 0x14, 0xc0, byte(len(fields) + 1), 6}, fields...)
	body = append(body, payload...)
	frame := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(frame, uint32(8+len(body)))
	frame[4], frame[5] = 2, 0
	binary.BigEndian.PutUint16(frame[6:], channel)
	return append(frame, body...)
}

// poisoned encodes msg with the symbol key turned binary.
func poisoned(t testing.TB, msg *amqp.Message, key string) []byte {
	t.Helper()
	b, err := msg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sym := append([]byte{0xa3, byte(len(key))}, key...)
	if !bytes.Contains(b, sym) {
		t.Fatalf("key %q not found in the encoded message", key)
	}
	return bytes.ReplaceAll(b, sym, append([]byte{0xa0, byte(len(key))}, key...))
}

// readAll runs stream through a guardConn, in chunks of the given size,
// and returns what it released and its error.
func readAll(stream []byte, chunk int) ([]byte, error) {
	client, server := net.Pipe()
	go func() {
		for len(stream) > 0 {
			n := min(chunk, len(stream))
			_, _ = server.Write(stream[:n])
			stream = stream[n:]
		}
		server.Close()
	}()
	var reported error
	g := newGuardConn(client, func(err error) { reported = err })
	out, err := io.ReadAll(g)
	client.Close()
	if err == nil {
		err = reported
	}
	return out, err
}

func TestGuardPassesWellFormedStreams(t *testing.T) {
	subj := "RECORD"
	good, err := (&amqp.Message{Properties: &amqp.MessageProperties{Subject: &subj},
		Annotations: amqp.Annotations{amqp.Symbol("x-opt-a"): "v", int64(7): "n"}, Value: []any{map[any]any{uint32(1): "id"}}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var stream []byte
	stream = append(stream, "AMQP\x03\x01\x00\x00"...)
	stream = append(stream, 0, 0, 0, 8, 2, 1, 0, 0) // an empty SASL frame
	stream = append(stream, "AMQP\x00\x01\x00\x00"...)
	stream = append(stream, 0, 0, 0, 8, 2, 0, 0, 0) // a keepalive
	stream = append(stream, transferFrame(0, 1, false, good)...)
	stream = append(stream, transferFrame(1, 1, true, good[:5])...)
	stream = append(stream, transferFrame(1, 1, false, good[5:])...)
	for _, chunk := range []int{1, 7, 1 << 16} {
		out, err := readAll(stream, chunk)
		if err != nil || !bytes.Equal(out, stream) {
			t.Fatalf("chunks of %d: %v; passed %d of %d bytes", chunk, err, len(out), len(stream))
		}
	}
}

func TestGuardRefusesUnhashableAnnotationKeys(t *testing.T) {
	subj := "BEACON"
	for name, payload := range map[string][]byte{
		"message-annotations":  poisoned(t, &amqp.Message{Properties: &amqp.MessageProperties{Subject: &subj}, Annotations: amqp.Annotations{amqp.Symbol("k"): 1}}, "k"),
		"delivery-annotations": poisoned(t, &amqp.Message{DeliveryAnnotations: amqp.Annotations{amqp.Symbol("k"): 1}, Value: "x"}, "k"),
		"footer":               poisoned(t, &amqp.Message{Value: "x", Footer: amqp.Annotations{amqp.Symbol("k"): 1}}, "k"),
	} {
		t.Run(name, func(t *testing.T) {
			var msg amqp.Message
			if !panics(func() { _ = msg.UnmarshalBinary(payload) }) {
				t.Fatal("go-amqp decodes this message without panicking: the guard may be unnecessary now")
			}
			// In one frame, or split so that the key comes in the last.
			one := transferFrame(0, 0, false, payload)
			split := append(transferFrame(0, 0, true, payload[:3]), transferFrame(0, 0, false, payload[3:])...)
			for _, stream := range [][]byte{one, split} {
				out, err := readAll(stream, 5)
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("guard passed it: %v", err)
				}
				if bytes.Equal(out, stream) {
					t.Fatal("the message's last frame was released")
				}
			}
		})
	}
	// An aborted message is dropped, not checked.
	payload := poisoned(t, &amqp.Message{Annotations: amqp.Annotations{amqp.Symbol("k"): 1}}, "k")
	aborted := transferFrame(0, 0, true, payload)
	// handle 0, more false, aborted (field 8) true
	fields := []byte{0x52, 0, 0x40, 0x40, 0x40, 0x40, 0x42, 0x40, 0x40, 0x41}
	body := append([]byte{0x00, 0x53, 0x14, 0xc0, byte(len(fields) + 1), 9}, fields...)
	abort := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	abort = append(abort, 2, 0, 0, 0)
	abort = append(abort, body...)
	if out, err := readAll(append(aborted, abort...), 3); err != nil || len(out) != len(aborted)+len(abort) {
		t.Fatalf("an aborted message: %v", err)
	}
}

// TestGuardSkipsMessagesWithoutAnnotations: the trial decode is skipped
// only for messages without an annotation section descriptor.
func TestGuardSkipsMessagesWithoutAnnotations(t *testing.T) {
	subj := "HEARTBEAT"
	plain, err := (&amqp.Message{Properties: &amqp.MessageProperties{Subject: &subj}, ApplicationProperties: map[string]any{"v": uint32(1)}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if mayHoldAnnotations(plain) {
		t.Fatalf("a heartbeat-like message may hold annotations: %x", plain)
	}
	for _, m := range []*amqp.Message{
		{Annotations: amqp.Annotations{amqp.Symbol("a"): 1}},
		{DeliveryAnnotations: amqp.Annotations{amqp.Symbol("a"): 1}, Value: "x"},
		{Value: "x", Footer: amqp.Annotations{amqp.Symbol("a"): 1}},
	} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !mayHoldAnnotations(b) {
			t.Fatalf("annotations not noticed in %x", b)
		}
	}
	// A ulong descriptor whose last byte is 0x72 is read as
	// message-annotations too.
	if !mayHoldAnnotations([]byte{0x00, 0x80, 1, 0, 0, 0, 0, 0, 0, 0x72, 0x40}) {
		t.Fatal("a ulong descriptor was not noticed")
	}
}

func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}

// FuzzGuardMessage: however a message is split into transfer frames, the
// guard refuses it if go-amqp's decoder panics on it, and passes it
// unchanged otherwise.
func FuzzGuardMessage(f *testing.F) {
	subj := "RECORD"
	for _, m := range []*amqp.Message{
		{Properties: &amqp.MessageProperties{Subject: &subj}, Annotations: amqp.Annotations{amqp.Symbol("a"): 1}, Value: []any{map[any]any{uint32(1): "x"}}},
		{DeliveryAnnotations: amqp.Annotations{int64(1): "v"}, Footer: amqp.Annotations{amqp.Symbol("f"): []any{1}}, Value: "x"},
	} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(3))
		f.Add(bytes.ReplaceAll(b, []byte{0xa3, 1}, []byte{0xa0, 1}), uint16(7))
	}
	f.Add([]byte("\x00Sx\xd1\x00\x00\x00\t\x00\x00\x00\x02\xa0\x00\x8000000000"), uint16(0))
	f.Fuzz(func(t *testing.T, payload []byte, cut uint16) {
		at := int(cut) % (len(payload) + 1)
		stream := append(transferFrame(0, 0, true, payload[:at]), transferFrame(0, 0, false, payload[at:])...)
		out, err := readAll(stream, 64)
		var msg amqp.Message
		if panics(func() { _ = msg.UnmarshalBinary(payload) }) {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("a message that panics go-amqp passed: %x (%v)", payload, err)
			}
			return
		}
		if err != nil || !bytes.Equal(out, stream) {
			t.Fatalf("a message that does not panic go-amqp was refused: %x (%v)", payload, err)
		}
	})
}

// FuzzGuardStream: whatever a peer sends, the guard does not panic.
func FuzzGuardStream(f *testing.F) {
	f.Add(transferFrame(0, 1, false, []byte{0x00, 0x53, 0x72, 0xc1, 0x04, 0x02, 0xa0, 0x01, 'k'}))
	f.Add([]byte("AMQP\x00\x01\x00\x00\x00\x00\x00\x08\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := newGuardConn(nil, nil)
		g.in = append(g.in, data...)
		_ = g.check()
	})
}

// openFrame encodes an open frame whose idle-time-out field is the
// encoded value idle.
func openFrame(idle []byte) []byte {
	fields := []byte{0xa1, 0x06, 'r', 'o', 'u', 't', 'e', 'r', 0x40, 0x70, 0x00, 0x00, 0x40, 0x00, 0x60, 0x7f, 0xff}
	fields = append(fields, idle...)
	body := append([]byte{0x00, 0x53, 0x10, 0xc0, byte(len(fields) + 1), 5}, fields...)
	frame := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(frame, uint32(8+len(body)))
	frame[4], frame[5] = 2, 0
	return append(frame, body...)
}

// With takeKeepalives set, the guard hands on the router's idle-time-out
// and passes an open that asks for none; without, the open is untouched.
func TestGuardTakesKeepalives(t *testing.T) {
	for _, tc := range []struct {
		name string
		idle []byte
		want time.Duration
	}{
		{"uint", []byte{0x70, 0x00, 0x00, 0xea, 0x60}, time.Minute},
		{"smalluint", []byte{0x52, 0x78}, 120 * time.Millisecond},
		{"zero", []byte{0x43}, 0},
		{"null", []byte{0x40}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := openFrame(tc.idle)
			client, server := net.Pipe()
			go func() { _, _ = server.Write(in); server.Close() }()
			var got time.Duration
			g := newGuardConn(client, func(error) {})
			g.takeKeepalives = func(d time.Duration) { got = d }
			out, err := io.ReadAll(g)
			client.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("handed on %s, want %s", got, tc.want)
			}
			want := openFrame(tc.idle)
			if tc.want > 0 {
				clear(want[len(want)-len(tc.idle)+1:])
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("released % x, want % x", out, want)
			}
			// go-amqp reads the open it is given.
			if untouched, err := readAll(in, len(in)); err != nil || !bytes.Equal(untouched, in) {
				t.Fatalf("without takeKeepalives: % x, %v", untouched, err)
			}
		})
	}
}

// Frames nothing answers are told apart from those that may be
// answered, on the frames go-amqp itself writes.
func TestUnanswered(t *testing.T) {
	frame := func(body ...byte) []byte {
		f := make([]byte, 8, 8+len(body))
		binary.BigEndian.PutUint32(f, uint32(8+len(body)))
		f[4] = 2
		return append(f, body...)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"keepalive", emptyFrame, true},
		{"flow", frame(0x00, 0x53, 0x13, 0x45), true},
		{"disposition", frame(0x00, 0x53, 0x15, 0x45), true},
		{"transfer", transferFrame(0, 1, false, []byte{0x00, 0x53, 0x77, 0x40}), false},
		{"attach", frame(0x00, 0x53, 0x12, 0x45), false},
		{"open", openFrame([]byte{0x43}), false},
		{"two frames", append(frame(0x00, 0x53, 0x13, 0x45), emptyFrame...), false},
		{"short", emptyFrame[:7], false},
		{"SASL", append(append([]byte{}, emptyFrame[:5]...), 1, 0, 0), false},
		{"protocol header", []byte("AMQP\x00\x01\x00\x00"), false},
	} {
		if got := unanswered(tc.frame); got != tc.want {
			t.Errorf("%s: unanswered = %v, want %v", tc.name, got, tc.want)
		}
	}
}
