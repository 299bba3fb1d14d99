// Package mgmt is the AMQP management ($management) client of a running
// router: QUERY, and CREATE/READ/UPDATE/DELETE of entities by name, as
// described in shared/reference/router-runtime.md §1–5.
//
// Contracts:
//   - Entity types are sent fully qualified (QualifiedType).
//   - Request bodies pass through EncodeValue, which never lets an AMQP
//     array through (an array in a body deadlocks the router).
//   - name and type go in application-properties; correlation ids are
//     strings, and a reply is matched on it (others are skipped).
//   - A reply with a non-2xx statusCode is returned as *Error.
//   - Requests on one Client are serialised: one is outstanding at a time.
//     Each is bounded by its context and by Options.Timeout. A request that
//     times out or loses its link drops the client's session and links, so
//     a late reply cannot be mistaken for the next one and a wedged link
//     cannot block later calls; the next request builds them again (on a
//     new connection if the router restarted).
package mgmt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/skupperd/skupperd/router/amqpconn"
)

// Address is the router's management node.
const Address = "$management"

// DefaultTimeout bounds one request when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a Client.
type Options struct {
	// Timeout bounds each request, including (re)building the links.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives link events; nil discards them.
	Logger *slog.Logger
}

// Client sends management requests over an amqpconn.Client's connection.
// It is safe for concurrent use; requests are serialised. Use one Client
// per router connection, so that one request at most is outstanding on it.
type Client struct {
	conn    *amqpconn.Client
	timeout time.Duration
	log     *slog.Logger

	// sem is the request slot: a request holds it from link setup to
	// reply. A channel (not a mutex) so that waiting honours ctx.
	sem chan struct{}
	seq atomic.Uint64
	// replyAt is when the last reply arrived (UnixNano; 0: none yet).
	replyAt atomic.Int64

	// Guarded by sem.
	links *links
	// closed is set by Close (under sem).
	closed bool
}

// links is one session with a sender to $management and a dynamic
// receiver for the replies.
type links struct {
	conn    *amqp.Conn
	sess    *amqp.Session
	send    *amqp.Sender
	recv    *amqp.Receiver
	replyTo string
}

// ErrClosed is returned by requests after Close.
var ErrClosed = errors.New("mgmt: client closed")

// ErrBusy is wrapped in the error of a request whose context ended while
// it waited for the previous request to finish: it was never sent, so it
// says nothing about the router.
var ErrBusy = errors.New("mgmt: waiting for the previous request")

// New returns a management client using conn's connection. It opens no
// link until the first request. The caller keeps ownership of conn.
func New(conn *amqpconn.Client, opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{conn: conn, timeout: opts.Timeout, log: log, sem: make(chan struct{}, 1)}
	return c
}

// LastReply is when the router last answered a request of this client
// (any reply, error replies included); zero before the first.
func (c *Client) LastReply() time.Time {
	n := c.replyAt.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Request is one management request. Type is qualified by Do.
type Request struct {
	Operation string // QUERY, CREATE, READ, UPDATE, DELETE, GET-TYPES, ...
	Type      string // entity type (entityType for QUERY, type otherwise)
	Name      string // entity name for CREATE/READ/UPDATE/DELETE
	// Body is the amqp-value; it passes through EncodeValue. Nil sends no body.
	Body any
	// Properties are extra application-properties (e.g. count, offset);
	// values must be strings, booleans or numbers.
	Properties map[string]any
}

// Query lists the entities of type typ with the given attributes (all
// attributes when attrs is empty), one map per entity. Beware the agents'
// quirks (router-runtime §2.2): the Python agent drops rows whose requested
// attributes are all null and refuses unknown names (404); the C agent
// answers an unknown name with the "name" column.
func (c *Client) Query(ctx context.Context, typ string, attrs ...string) ([]map[string]any, error) {
	names := make([]any, len(attrs))
	for i, a := range attrs {
		names[i] = a
	}
	rep, err := c.Do(ctx, Request{Operation: "QUERY", Type: typ, Body: map[string]any{"attributeNames": names}})
	if err != nil {
		return nil, err
	}
	rows, err := DecodeQuery(rep.Body)
	if err != nil {
		return nil, fmt.Errorf("QUERY %s: %w", QualifiedType(typ), err)
	}
	return rows, nil
}

// Read returns the attributes of the entity of type typ named name.
func (c *Client) Read(ctx context.Context, typ, name string) (map[string]any, error) {
	return c.entity(ctx, Request{Operation: "READ", Type: typ, Name: name})
}

// Create creates the entity of type typ named name with attrs, and returns
// its full attributes as the router reports them. A name already in use
// gives an error matching ErrConflict.
func (c *Client) Create(ctx context.Context, typ, name string, attrs map[string]any) (map[string]any, error) {
	body, err := EncodeBody(attrs)
	if err != nil {
		return nil, err
	}
	return c.entity(ctx, Request{Operation: "CREATE", Type: typ, Name: name, Body: body})
}

// Update merges attrs into the entity of type typ named name and returns
// its attributes.
func (c *Client) Update(ctx context.Context, typ, name string, attrs map[string]any) (map[string]any, error) {
	body, err := EncodeBody(attrs)
	if err != nil {
		return nil, err
	}
	return c.entity(ctx, Request{Operation: "UPDATE", Type: typ, Name: name, Body: body})
}

// Delete deletes the entity of type typ named name. A missing name gives
// an error matching ErrNotFound.
func (c *Client) Delete(ctx context.Context, typ, name string) error {
	_, err := c.Do(ctx, Request{Operation: "DELETE", Type: typ, Name: name})
	return err
}

func (c *Client) entity(ctx context.Context, req Request) (map[string]any, error) {
	rep, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	attrs, err := DecodeAttributes(rep.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s %q: %w", req.Operation, QualifiedType(req.Type), req.Name, err)
	}
	return attrs, nil
}

// readOnly operations may be retried after a lost connection.
func readOnly(op string) bool {
	switch op {
	case "QUERY", "READ", "GET-TYPES", "GET-ATTRIBUTES", "GET-OPERATIONS", "GET-MGMT-NODES", "GET-SCHEMA", "GET-JSON-SCHEMA", "GET-LOG":
		return true
	}
	return false
}

// Do sends one request and waits for its reply. A reply whose statusCode
// is not 2xx is returned as *Error (with the reply too).
func (c *Client) Do(ctx context.Context, req Request) (Reply, error) {
	msg, err := c.message(req)
	if err != nil {
		return Reply{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("%s %s: %w: %w", req.Operation, req.Type, ErrBusy, ctx.Err())
	}
	defer func() { <-c.sem }()
	if c.closed {
		return Reply{}, ErrClosed
	}

	var rep Reply
	// One retry when the connection turns out to be gone: after a router
	// restart the first attempt finds the old connection dead. Requests
	// that change state are retried only when the request was not sent.
	for attempt := 0; ; attempt++ {
		var sent bool
		rep, sent, err = c.roundTrip(ctx, msg)
		if err == nil || attempt > 0 || !amqpconn.IsConnLost(err) || ctx.Err() != nil || (sent && !readOnly(req.Operation)) {
			break
		}
		c.log.Debug("management link lost, retrying", "op", req.Operation, "err", err)
	}
	if err != nil {
		return Reply{}, fmt.Errorf("%s %s: %w", req.Operation, QualifiedType(req.Type), err)
	}
	if rep.Code < 200 || rep.Code > 299 {
		return rep, &Error{Code: rep.Code, Description: rep.Description, Operation: req.Operation, Type: QualifiedType(req.Type), Name: req.Name}
	}
	return rep, nil
}

// message builds the AMQP message of req (without reply-to and
// correlation id).
func (c *Client) message(req Request) (*amqp.Message, error) {
	if req.Operation == "" {
		return nil, errors.New("mgmt: request without an operation")
	}
	props := map[string]any{"operation": req.Operation}
	for k, v := range req.Properties {
		switch v := v.(type) {
		case string, bool, int32, int64, uint32, uint64:
			props[k] = v
		case int:
			props[k] = int64(v)
		default:
			return nil, fmt.Errorf("mgmt: application property %q: %T is not allowed", k, v)
		}
	}
	if req.Type != "" {
		typ := QualifiedType(req.Type)
		if req.Operation == "QUERY" {
			props["entityType"] = typ
		} else {
			props["type"] = typ
		}
	}
	if req.Name != "" {
		props["name"] = req.Name
	}
	msg := &amqp.Message{ApplicationProperties: props}
	if req.Body != nil {
		body, err := EncodeValue(req.Body)
		if err != nil {
			return nil, err
		}
		msg.Value = body
	}
	return msg, nil
}

// roundTrip sends msg on the client's links (building them if needed) and
// returns the matching reply. sent tells whether the message may have
// reached the router. Any failure drops the links. Called with sem held.
func (c *Client) roundTrip(ctx context.Context, tmpl *amqp.Message) (rep Reply, sent bool, err error) {
	l, err := c.ensureLinks(ctx)
	if err != nil {
		return Reply{}, false, err
	}
	defer func() {
		if err != nil {
			c.dropLinks()
		}
	}()
	id := "skupperd-" + strconv.FormatUint(c.seq.Add(1), 10)
	msg := *tmpl
	msg.Properties = &amqp.MessageProperties{ReplyTo: &l.replyTo, CorrelationID: id}
	if err := l.send.Send(ctx, &msg, nil); err != nil {
		return Reply{}, true, fmt.Errorf("send: %w", err)
	}
	for {
		m, err := l.recv.Receive(ctx, nil)
		if err != nil {
			return Reply{}, true, fmt.Errorf("waiting for the reply: %w", err)
		}
		c.replyAt.Store(time.Now().UnixNano())
		if err := l.recv.AcceptMessage(ctx, m); err != nil {
			return Reply{}, true, fmt.Errorf("accept reply: %w", err)
		}
		if m.Properties == nil || m.Properties.CorrelationID != any(id) {
			var got any
			if m.Properties != nil {
				got = m.Properties.CorrelationID
			}
			c.log.Debug("skipping management reply for another request", "want", id, "got", got)
			continue
		}
		rep, err := decodeReply(m)
		return rep, true, err
	}
}

// ensureLinks returns the live links, building them (and the connection)
// if needed. Called with sem held.
func (c *Client) ensureLinks(ctx context.Context) (*links, error) {
	if c.links != nil {
		select {
		case <-c.links.conn.Done():
			c.dropLinks()
		default:
			return c.links, nil
		}
	}
	conn, err := c.conn.Conn(ctx)
	if err != nil {
		return nil, err
	}
	l := &links{conn: conn}
	l.sess, err = conn.NewSession(ctx, nil)
	if err != nil {
		if ctx.Err() == nil {
			// A connection that cannot open a session is of no use.
			c.conn.Reset(conn)
		}
		return nil, fmt.Errorf("open session: %w", err)
	}
	fail := func(what string, err error) (*links, error) {
		closeSession(l.sess)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	l.recv, err = l.sess.NewReceiver(ctx, "", &amqp.ReceiverOptions{DynamicAddress: true, Credit: 10})
	if err != nil {
		return fail("open reply receiver", err)
	}
	l.replyTo = l.recv.Address()
	if l.replyTo == "" {
		return fail("open reply receiver", errors.New("the router assigned no dynamic address"))
	}
	l.send, err = l.sess.NewSender(ctx, Address, nil)
	if err != nil {
		return fail("open sender", err)
	}
	c.links = l
	c.log.Debug("management links open", "replyTo", l.replyTo)
	return l, nil
}

// closeSession ends a session without waiting long for the router: a
// wedged router must not wedge the client.
func closeSession(s *amqp.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.Close(ctx)
}

// dropLinks closes the links so that the next request builds new ones.
// Called with sem held.
func (c *Client) dropLinks() {
	if c.links == nil {
		return
	}
	closeSession(c.links.sess)
	c.links = nil
}

// Close ends the client's links (not the connection, which belongs to the
// caller). It waits for an outstanding request to finish or time out.
// Later requests return ErrClosed.
func (c *Client) Close() error {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	c.closed = true
	c.dropLinks()
	return nil
}
