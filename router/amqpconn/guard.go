package amqpconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"
)

// ErrMalformed is wrapped in the read error of a connection on which the
// router delivered a message that go-amqp must not decode (see guardConn).
// The connection is dropped; the Client dials again.
var ErrMalformed = errors.New("amqpconn: malformed message from the router")

// Limits of guardConn.
const (
	// maxGuardFrame bounds one frame (go-amqp's default max frame size
	// is 64 KiB; the router offers 16 KiB).
	maxGuardFrame = 1 << 20
	// maxGuardMessage bounds one message reassembled from transfer frames.
	maxGuardMessage = 16 << 20
)

// guardConn sits between the router's (TLS) connection and go-amqp. It
// releases what the router sends only in whole AMQP frames, and decodes
// each message, under recover, before go-amqp's receiver sees its last
// frame: go-amqp v1.7.0 (the newest release) decodes the
// delivery-annotations, message-annotations and footer maps into Go maps
// without checking that their keys are hashable, so a key it decodes as a
// slice (binary, list, map or array) panics in go-amqp's own receiver
// goroutine, where no caller can recover it. The router forwards such a
// message to a subscriber as it was sent (observed), and anyone who can
// send to an address skupperd subscribes to (e.g. mc/sfe.all, which every
// router of the network forwards, a linked remote site's included) could
// otherwise stop skupperd. Such a message ends the connection with
// ErrMalformed instead; the Client dials again.
//
// Performatives themselves (flow, disposition, ...) are the local
// router's own and are not checked; skupperd sends presettled where a
// remote party would settle, so no remote outcome reaches it.
//
// The stream is: protocol headers ("AMQP" and four bytes, before SASL
// and before AMQP), then frames (a 4-byte size, doff, type, channel). A
// transfer performative is followed by a payload, a part of a message;
// the parts of a message in progress are kept per channel and link
// handle until the transfer without "more".
type guardConn struct {
	net.Conn
	buf    []byte            // read buffer, reused
	in     []byte            // received, not yet checked (an incomplete frame)
	out    []byte            // checked, not yet read
	off    int               // how much of out was read
	parts  map[uint64][]byte // message payloads in progress by channel<<32|handle
	fields [][]byte          // the fields of the frame being checked, reused
	err    error             // sticky
	report func(error)       // told of a malformed message
	// noAnswer, when set, is set around the write of a frame that nothing
	// answers (rawConn.noAnswer): a keepalive, a flow, a disposition.
	noAnswer *atomic.Bool
	// takeKeepalives, when set, takes over the keepalives the router
	// asks for: it is handed the idle-time-out of the router's open,
	// which go-amqp then sees as none (so it starts no timer of its
	// own for them).
	takeKeepalives func(peerIdle time.Duration)
}

func newGuardConn(c net.Conn, report func(error)) *guardConn {
	return &guardConn{Conn: c, buf: make([]byte, 16<<10), parts: map[uint64][]byte{}, report: report}
}

// emptyFrame is an AMQP frame without a body: a keepalive.
var emptyFrame = []byte{0x00, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x00}

// Write implements net.Conn, telling the connection below when p is a
// frame that nothing answers. go-amqp writes one frame per Write.
func (g *guardConn) Write(p []byte) (int, error) {
	if g.noAnswer != nil && unanswered(p) {
		g.noAnswer.Store(true)
		defer g.noAnswer.Store(false)
	}
	return g.Conn.Write(p)
}

// unanswered reports whether p is one whole AMQP frame that the peer
// does not answer: empty (a keepalive), a flow (credit) or a disposition
// (settlement). Anything else (open, begin, attach, a transfer such as a
// management request or a FLUSH, detach, end, close) may be answered.
func unanswered(p []byte) bool {
	if len(p) < 8 || int(binary.BigEndian.Uint32(p)) != len(p) || p[5] != 0 {
		return false
	}
	doff := int(p[4]) * 4
	if doff < 8 || doff > len(p) {
		return false
	}
	body := p[doff:]
	if len(body) == 0 {
		return true
	}
	// A described list with a small-ulong descriptor, as go-amqp encodes
	// performatives.
	if len(body) < 3 || body[0] != 0x00 || body[1] != 0x53 {
		return false
	}
	return body[2] == flowCode || body[2] == dispositionCode
}

// Read implements net.Conn: it returns checked bytes only. go-amqp reads
// from one goroutine at a time.
func (g *guardConn) Read(p []byte) (int, error) {
	for g.off == len(g.out) {
		g.out, g.off = g.out[:0], 0
		if g.err != nil {
			return 0, g.err
		}
		n, err := g.Conn.Read(g.buf)
		g.in = append(g.in, g.buf[:n]...)
		if cerr := g.check(); cerr != nil {
			g.err, g.in, g.out = cerr, nil, g.out[:0]
			if g.report != nil {
				g.report(cerr)
			}
		} else if err != nil {
			g.err = err
		}
	}
	n := copy(p, g.out[g.off:])
	g.off += n
	return n, nil
}

// check moves every complete, acceptable protocol header or frame from
// in to out.
func (g *guardConn) check() error {
	for {
		if len(g.in) >= 4 && bytes.Equal(g.in[:4], []byte("AMQP")) {
			if len(g.in) < 8 {
				return nil
			}
			g.release(8)
			continue
		}
		if len(g.in) < 8 {
			return nil
		}
		size := binary.BigEndian.Uint32(g.in)
		doff := int(g.in[4]) * 4
		if size < 8 || size > maxGuardFrame || doff < 8 || doff > int(size) {
			return fmt.Errorf("%w: a frame of %d bytes (data offset %d)", ErrMalformed, size, doff)
		}
		if len(g.in) < int(size) {
			return nil
		}
		if g.in[5] == 0 { // an AMQP frame (1 is SASL)
			channel := binary.BigEndian.Uint16(g.in[6:])
			if err := g.frame(channel, g.in[doff:size]); err != nil {
				return err
			}
		}
		g.release(int(size))
	}
}

func (g *guardConn) release(n int) {
	g.out = append(g.out, g.in[:n]...)
	g.in = g.in[:copy(g.in, g.in[n:])]
}

// frame checks one AMQP frame body (empty: a keepalive).
func (g *guardConn) frame(channel uint16, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	code, fields, payload, err := performative(body, g.fields[:0])
	defer func() { clear(fields); g.fields = fields[:0] }()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if code == openCode && g.takeKeepalives != nil {
		g.takeOpenIdleTimeout(fields)
		return nil
	}
	if code != transferCode {
		return nil
	}
	handle, more, aborted, err := transferFields(fields)
	if err != nil {
		return fmt.Errorf("%w: transfer: %v", ErrMalformed, err)
	}
	key := uint64(channel)<<32 | uint64(handle)
	msg, inProgress := g.parts[key]
	switch {
	case aborted:
		delete(g.parts, key)
		return nil
	case inProgress || more:
		msg = append(msg, payload...)
	default:
		msg = payload // a message in one frame: checked in place
	}
	if len(msg) > maxGuardMessage {
		return fmt.Errorf("%w: a message of over %d bytes", ErrMalformed, maxGuardMessage)
	}
	if more {
		g.parts[key] = msg
		return nil
	}
	delete(g.parts, key)
	if err := checkMessage(msg); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Descriptors of the performatives the guard looks into.
const (
	openCode        = 0x10
	flowCode        = 0x13
	transferCode    = 0x14
	dispositionCode = 0x15
)

// openIdleTimeoutField is the index of idle-time-out among open's fields.
const openIdleTimeoutField = 4

// takeOpenIdleTimeout hands a non-zero idle-time-out of an open's fields
// to takeKeepalives and overwrites it, in place and at the same length,
// with zero.
func (g *guardConn) takeOpenIdleTimeout(fields [][]byte) {
	if len(fields) <= openIdleTimeoutField {
		return
	}
	v := fields[openIdleTimeoutField]
	ms, ok := ulong(v)
	if !ok || ms == 0 {
		return
	}
	clear(v[1:])
	g.takeKeepalives(time.Duration(ms) * time.Millisecond)
}

// performative splits a frame body into the performative's descriptor
// code, its list's fields (encoded, appended to dst) and the payload
// after it.
func performative(b []byte, dst [][]byte) (code uint64, fields [][]byte, payload []byte, err error) {
	if len(b) < 2 || b[0] != 0x00 {
		return 0, nil, nil, errors.New("a performative that is not a described list")
	}
	dlen, err := valueLen(b[1:])
	if err != nil {
		return 0, nil, nil, err
	}
	code, ok := ulong(b[1 : 1+dlen])
	if !ok {
		return 0, nil, nil, nil // a symbolic descriptor: not a transfer go-amqp knows
	}
	rest := b[1+dlen:]
	n, err := valueLen(rest)
	if err != nil {
		return 0, nil, nil, err
	}
	fields, err = listItems(rest[:n], dst)
	return code, fields, rest[n:], err
}

// transferFields reads handle (field 0), more (5) and aborted (8).
func transferFields(f [][]byte) (handle uint32, more, aborted bool, err error) {
	if len(f) == 0 {
		return 0, false, false, errors.New("no handle")
	}
	h, ok := ulong(f[0])
	if !ok || h > 0xffffffff {
		return 0, false, false, errors.New("a handle that is not a uint")
	}
	flag := func(i int) bool {
		return i < len(f) && len(f[i]) > 0 && (f[i][0] == 0x41 || f[i][0] == 0x56 && len(f[i]) == 2 && f[i][1] == 1)
	}
	return uint32(h), flag(5), flag(8), nil
}

// checkMessage decodes an encoded message as go-amqp's receiver will,
// and refuses it if that panics. Decoding errors are left to the
// receiver, which reports them and closes its link.
func checkMessage(b []byte) (err error) {
	if !mayHoldAnnotations(b) {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("decoding it panics go-amqp: %v", v)
		}
	}()
	var m amqp.Message
	_ = m.UnmarshalBinary(b)
	return nil
}

// mayHoldAnnotations reports whether go-amqp could decode a section of
// the encoded message b as Annotations: it reads a section's descriptor as
// 0x00 then a smallulong (0x53 X) or a ulong (0x80 and 8 bytes, of which
// it keeps the last), X being 0x71, 0x72 or 0x78. A message without such
// bytes anywhere (most: heartbeats, beacons, records) needs no trial
// decode.
func mayHoldAnnotations(b []byte) bool {
	isAnn := func(c byte) bool { return c == 0x71 || c == 0x72 || c == 0x78 }
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0x00 {
			continue
		}
		if b[i+1] == 0x53 && isAnn(b[i+2]) || b[i+1] == 0x80 && i+9 < len(b) && isAnn(b[i+9]) {
			return true
		}
	}
	return false
}

// valueLen is the length of the AMQP value encoded at the start of b.
func valueLen(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errors.New("truncated value")
	}
	c := b[0]
	if c == 0x00 { // described: descriptor, then value
		d, err := valueLen(b[1:])
		if err != nil {
			return 0, err
		}
		v, err := valueLen(b[1+d:])
		if err != nil {
			return 0, err
		}
		return 1 + d + v, nil
	}
	var n int
	switch c >> 4 {
	case 0x4:
		n = 1
	case 0x5:
		n = 2
	case 0x6:
		n = 3
	case 0x7:
		n = 5
	case 0x8:
		n = 9
	case 0x9:
		n = 17
	case 0xa, 0xc, 0xe:
		if len(b) < 2 {
			return 0, errors.New("truncated size")
		}
		n = 2 + int(b[1])
	case 0xb, 0xd, 0xf:
		if len(b) < 5 {
			return 0, errors.New("truncated size")
		}
		size := binary.BigEndian.Uint32(b[1:])
		if size > maxGuardMessage {
			return 0, errors.New("size out of range")
		}
		n = 5 + int(size)
	default:
		return 0, fmt.Errorf("unknown constructor 0x%02x", c)
	}
	if n > len(b) {
		return 0, errors.New("truncated value")
	}
	return n, nil
}

// listItems appends the encoded items of a list value to dst.
func listItems(v []byte, dst [][]byte) ([][]byte, error) {
	if len(v) > 0 && v[0] == 0x45 {
		return dst, nil
	}
	if len(v) == 0 || (v[0] != 0xc0 && v[0] != 0xd0) {
		return dst, errors.New("not a list")
	}
	return compoundItems(v, dst)
}

// compoundItems appends the encoded items of a list or map value to dst.
func compoundItems(v []byte, dst [][]byte) ([][]byte, error) {
	var count int
	var rest []byte
	switch v[0] {
	case 0xc0, 0xc1:
		if len(v) < 3 {
			return dst, errors.New("truncated compound")
		}
		count, rest = int(v[2]), v[3:]
	case 0xd0, 0xd1:
		if len(v) < 9 {
			return dst, errors.New("truncated compound")
		}
		c := binary.BigEndian.Uint32(v[5:])
		if c > maxGuardMessage {
			return dst, errors.New("count out of range")
		}
		count, rest = int(c), v[9:]
	default:
		return dst, errors.New("not a list or map")
	}
	if dst == nil {
		dst = make([][]byte, 0, min(count, 64))
	}
	for range count {
		n, err := valueLen(rest)
		if err != nil {
			return dst, err
		}
		dst = append(dst, rest[:n])
		rest = rest[n:]
	}
	return dst, nil
}

// ulong decodes an unsigned integer value (ulong, uint, ubyte, small
// forms).
func ulong(v []byte) (uint64, bool) {
	switch {
	case len(v) == 1 && (v[0] == 0x43 || v[0] == 0x44):
		return 0, true
	case len(v) == 2 && (v[0] == 0x52 || v[0] == 0x53 || v[0] == 0x50):
		return uint64(v[1]), true
	case len(v) == 5 && v[0] == 0x70:
		return uint64(binary.BigEndian.Uint32(v[1:])), true
	case len(v) == 9 && v[0] == 0x80:
		return binary.BigEndian.Uint64(v[1:]), true
	}
	return 0, false
}
