// Package grantserver serves AccessGrants over HTTPS with the protocol of
// upstream Skupper's grant server, so upstream clients (Kubernetes sites,
// the upstream CLI) and skupperd's grantclient can redeem tokens issued here.
//
// A redemption is POST /<grant uid> with the secret code as the body and the
// headers "name" (the link name wanted) and "subject" (the redeeming site).
// The checks, their order, status codes and texts follow upstream:
//
//	not POST                       405 Only POST is supported
//	body unreadable                400 Request body not valid
//	unknown grant                  404 No such claim
//	expired                        404 No such claim
//	no redemptions left            404 No such access granted
//	wrong code                     403 Redemption of access token refused
//	recording the redemption fails 503 Internal error
//	issuing the credentials fails  500 <reason>
//
// Codes are compared in constant time. A redemption is recorded durably
// (fsync) before the answer is sent, under a per-grant lock, so no more
// than redemptionsAllowed redemptions ever succeed — across concurrent
// requests and across daemon crashes. Failed attempts are throttled per
// client address (wrong codes and unknown grants; a used-up or expired
// grant is no guess) and wrong codes per grant; a throttled address still
// gets a correct code through at a bounded rate. The answer to a
// redemption that carries a RedemptionIDHeader is kept in memory for
// ReplayWindow and given again to a request with the same id and code
// without counting, so a client that lost the answer (a crash) does not
// find the grant used up.
// While the server is starting (SetStarting), an unknown grant is answered
// 503 with Retry-After. Codes never appear in logs.
package grantserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits.
const (
	// MaxBodySize bounds the request body (a code is a few dozen bytes).
	MaxBodySize = 4 << 10
	// failureBurst failed attempts are allowed per address, and per grant,
	// before throttling; one more is allowed every failureRefill.
	failureBurst  = 10
	failureRefill = 6 * time.Second
	// A throttled address still gets a correct code through, passBurst at
	// once and then one every passRefill, so that an attacker sharing the
	// address (a NAT, a proxy) does not lock legitimate sites out.
	passBurst  = 5
	passRefill = time.Second
	// StartingRetryAfter is the Retry-After of the 503 answered for an
	// unknown grant while the server is not ready (its grants are still
	// being loaded).
	StartingRetryAfter = 2 * time.Second
	// ReplayWindow is how long the answer to a redemption that carried a
	// RedemptionIDHeader is kept in memory, so that the same client
	// retrying with the same id (its answer was lost: a crash, a cut
	// connection) gets the same answer instead of a used-up grant. At most
	// maxReplays are kept.
	ReplayWindow = 10 * time.Minute
	maxReplays   = 1024
)

// Grant is one AccessGrant as served.
type Grant struct {
	Namespace string
	Name      string
	// UID is the grant's key in the URL path.
	UID     string
	Code    string
	Expires time.Time
	// Allowed is redemptionsAllowed.
	Allowed int
	// Issuer names the CA that signs the link certificates (the grant's
	// issuer, else the site's default issuer).
	Issuer string
}

// Issuer produces the answer to an accepted redemption of grant g: a YAML
// stream of a Secret and Links. name is the link name the client asked for
// (the grant name if empty) and subject the redeeming site.
type Issuer interface {
	Issue(ctx context.Context, g Grant, name, subject string) ([]byte, error)
}

// Store records redemptions durably.
type Store interface {
	// Count returns how many times a grant has been redeemed.
	Count(g Grant) (int, error)
	// Record durably increments the count (it must be on stable storage
	// when Record returns) and returns the new count.
	Record(g Grant) (int, error)
}

// Server is the grant server's HTTP handler.
type Server struct {
	issuer Issuer
	store  Store
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	grants  map[string]Grant     // by UID
	locks   map[string]*uidLock  // by UID, only while in use
	replays map[replayKey]replay // recent answers

	starting atomic.Bool
	limits   atomic.Pointer[limits]
}

// limits are the throttles of failed attempts.
type limits struct {
	byAddr  *limiter // failures per client address
	byGrant *limiter // failures per grant
	pass    *limiter // correct codes let through a throttled address
}

type uidLock struct {
	sync.Mutex
	users int
}

type replayKey struct{ uid, id string }

type replay struct {
	answer []byte
	until  time.Time
}

// New returns a server answering with issuer and counting with store. It
// is ready (see SetStarting).
func New(issuer Issuer, store Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		issuer: issuer, store: store, log: log, now: time.Now,
		grants:  map[string]Grant{},
		locks:   map[string]*uidLock{},
		replays: map[replayKey]replay{},
	}
	s.SetFailureLimit(failureBurst, failureRefill)
	return s
}

// SetFailureLimit changes the throttling of failed attempts: burst
// failures per client address and per grant, then one more per refill
// period.
func (s *Server) SetFailureLimit(burst int, refill time.Duration) {
	s.limits.Store(&limits{
		byAddr:  newLimiter(burst, refill),
		byGrant: newLimiter(burst, refill),
		pass:    newLimiter(passBurst, passRefill),
	})
}

// SetClock replaces the server's clock (tests).
func (s *Server) SetClock(now func() time.Time) { s.now = now }

// SetStarting says whether the server is still loading its grants: while
// it is, a request for a grant it does not know yet is answered 503 with
// Retry-After instead of 404 "No such claim", which would make a client
// give the token up for good.
func (s *Server) SetStarting(starting bool) { s.starting.Store(starting) }

// SetGrants replaces the grants served for namespace ns.
func (s *Server) SetGrants(ns string, grants []Grant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for uid, g := range s.grants {
		if g.Namespace == ns {
			delete(s.grants, uid)
		}
	}
	for _, g := range grants {
		g.Namespace = ns
		s.grants[g.UID] = g
	}
}

// Grants returns the number of grants served.
func (s *Server) Grants() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.grants)
}

// Locks returns the number of per-grant locks held or awaited (bounded by
// the requests in progress).
func (s *Server) Locks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.locks)
}

var uidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// lockGrant serialises the redemptions of one grant; the returned function
// unlocks it. A lock lives only while a request uses it, so the map stays
// bounded whatever uids clients send.
func (s *Server) lockGrant(uid string) func() {
	s.mu.Lock()
	l := s.locks[uid]
	if l == nil {
		l = &uidLock{}
		s.locks[uid] = l
	}
	l.users++
	s.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.Lock()
		if l.users--; l.users == 0 {
			delete(s.locks, uid)
		}
		s.mu.Unlock()
	}
}

// lookup returns the grant served under uid.
func (s *Server) lookup(uid string) (Grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[uid]
	return g, ok
}

// replayed returns the answer kept for the same request, if any.
func (s *Server) replayed(k replayKey, now time.Time) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.replays[k]
	if !ok || now.After(r.until) {
		delete(s.replays, k)
		return nil, false
	}
	return r.answer, true
}

// keep remembers an answer for ReplayWindow, forgetting expired ones (and
// the oldest when full).
func (s *Server) keep(k replayKey, answer []byte, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.replays) >= maxReplays {
		var oldest replayKey
		first := true
		for key, r := range s.replays {
			if now.After(r.until) {
				delete(s.replays, key)
				continue
			}
			if first || r.until.Before(s.replays[oldest].until) {
				oldest, first = key, false
			}
		}
		if len(s.replays) >= maxReplays {
			delete(s.replays, oldest)
		}
	}
	s.replays[k] = replay{answer: answer, until: now.Add(ReplayWindow)}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// request is one redemption attempt being answered.
type request struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	addr string
	log  *slog.Logger
	lim  *limits
	now  time.Time
	// throttled: the address has no failure token left; only a correct
	// code gets through, at the pass rate.
	throttled bool
}

// refuse answers a refusal; guesses (a wrong code, a grant id or path
// that names no grant) also spend one of the address's failure tokens.
func (q *request) refuse(code int, msg string, guess bool) {
	if q.throttled && guess {
		q.tooMany()
		return
	}
	if guess {
		q.lim.byAddr.failure(q.addr, q.now)
	}
	q.log.Info("redemption refused", "status", code, "reason", msg)
	http.Error(q.w, msg, code)
}

func (q *request) tooMany() {
	q.log.Warn("redemption throttled: too many failed attempts")
	q.w.Header().Set("Retry-After", fmt.Sprint(int(failureRefill.Seconds())))
	http.Error(q.w, "Too many failed redemption attempts; try again later", http.StatusTooManyRequests)
}

// ServeHTTP implements the redemption protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := &request{s: s, w: w, r: r, addr: clientAddr(r), lim: s.limits.Load(), now: s.now()}
	q.log = s.log.With("client", q.addr)
	if !q.lim.byAddr.allowed(q.addr, q.now) {
		// Not refused outright: a correct code still passes, at a
		// bounded rate (checked once the code is known).
		q.throttled = true
	}
	if r.Method != http.MethodPost {
		q.refuse(http.StatusMethodNotAllowed, "Only POST is supported", q.throttled)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil || len(body) > MaxBodySize {
		q.refuse(http.StatusBadRequest, "Request body not valid", true)
		return
	}
	// The key is the path's single element: the grant uid. Anything else
	// (extra segments, traversal, encoded slashes) names no grant.
	uid := strings.TrimPrefix(r.URL.Path, "/")
	if !uidRE.MatchString(uid) || r.URL.RawPath != "" {
		q.refuse(http.StatusNotFound, "No such claim", true)
		return
	}
	if _, ok := s.lookup(uid); !ok {
		if s.starting.Load() {
			q.log.Info("redemption deferred: the grant server is starting")
			w.Header().Set("Retry-After", fmt.Sprint(int(StartingRetryAfter.Seconds())))
			http.Error(w, "The grant server is starting; try again later", http.StatusServiceUnavailable)
			return
		}
		q.refuse(http.StatusNotFound, "No such claim", true)
		return
	}
	unlock := s.lockGrant(uid)
	defer unlock()
	q.redeem(uid, body)
}

// RedemptionIDHeader carries a random id a client chose for one
// redemption and keeps across its retries (skupperd's grantclient does;
// upstream clients send none, and get no replay).
const RedemptionIDHeader = "skupper-redemption-id"

// redeem answers a request for grant uid under its lock.
func (q *request) redeem(uid string, body []byte) {
	s := q.s
	g, ok := s.lookup(uid)
	if !ok {
		q.refuse(http.StatusNotFound, "No such claim", true)
		return
	}
	q.log = q.log.With("namespace", g.Namespace, "grant", g.Name)
	if !q.now.Before(g.Expires) {
		// Upstream's answer, with when: the caller knew the grant's
		// uid (128 random bits), so this tells a guesser nothing.
		q.refuse(http.StatusNotFound, "No such claim: this token expired at "+g.Expires.UTC().Format(time.RFC3339), false)
		return
	}
	codeOK := subtle.ConstantTimeCompare(body, []byte(g.Code)) == 1
	if !codeOK && !q.lim.byGrant.allowed(uid, q.now) {
		// Guesses spread over many addresses still end at the grant.
		q.tooMany()
		return
	}
	if q.throttled && (!codeOK || !q.lim.pass.take(q.addr, q.now)) {
		q.tooMany()
		return
	}
	name := q.r.Header.Get("name")
	if name == "" {
		name = g.Name
	}
	subject := q.r.Header.Get("subject")
	if subject == "" {
		subject = name
	}
	key := replayKey{uid: uid, id: q.r.Header.Get(RedemptionIDHeader)}
	if len(key.id) < 16 || len(key.id) > 64 {
		key.id = ""
	}
	if key.id != "" && codeOK {
		if answer, ok := s.replayed(key, q.now); ok {
			q.log.Info("token redemption repeated: same answer", "link", name, "subject", subject)
			q.w.WriteHeader(http.StatusOK)
			_, _ = q.w.Write(answer)
			return
		}
	}
	count, err := s.store.Count(g)
	if err != nil {
		q.log.Error("read redemption count", "error", err)
		http.Error(q.w, "Internal error", http.StatusServiceUnavailable)
		return
	}
	if count >= g.Allowed {
		// Used up: not a guess (the caller knew the grant), so not
		// throttled — many sites may redeem one grant at once.
		q.refuse(http.StatusNotFound, "No such access granted", false)
		return
	}
	if !codeOK {
		q.lim.byGrant.failure(uid, q.now)
		q.refuse(http.StatusForbidden, "Redemption of access token refused", true)
		return
	}
	q.issue(g, key, name, subject, count)
}

// issue records an accepted redemption and answers with the credentials.
func (q *request) issue(g Grant, key replayKey, name, subject string, count int) {
	s := q.s
	if _, err := s.store.Record(g); err != nil {
		q.log.Error("record redemption", "error", err)
		http.Error(q.w, "Internal error", http.StatusServiceUnavailable)
		return
	}
	answer, err := s.issuer.Issue(q.r.Context(), g, name, subject)
	if err != nil {
		var ie *IssueError
		code := http.StatusInternalServerError
		if errors.As(err, &ie) && ie.Status != 0 {
			code = ie.Status
		}
		q.log.Error("issue link credentials", "error", err)
		http.Error(q.w, err.Error(), code)
		return
	}
	if key.id != "" {
		s.keep(key, answer, q.now)
	}
	q.log.Info("token redeemed", "link", name, "subject", subject, "redemptions", count+1, "allowed", g.Allowed)
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write(answer)
}

// IssueError is an issuing failure with the status code to answer.
type IssueError struct {
	Status  int
	Message string
}

func (e *IssueError) Error() string { return e.Message }

// limiter throttles failed attempts per client address (a token bucket per
// address, refilled one token per refill period, holding burst tokens).
type limiter struct {
	mu      sync.Mutex
	burst   float64
	refill  time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, refill time.Duration) *limiter {
	return &limiter{burst: float64(burst), refill: refill, buckets: map[string]*bucket{}}
}

func (l *limiter) bucket(addr string, now time.Time) *bucket {
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) > 10000 {
			// Forget full buckets so that the map stays bounded.
			for a, bb := range l.buckets {
				if bb.tokens >= l.burst || now.Sub(bb.last) > time.Duration(l.burst)*l.refill {
					delete(l.buckets, a)
				}
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[addr] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.refill))
	b.last = now
	return b
}

// take spends a token of addr if it has one, and reports whether it did.
func (l *limiter) take(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// allowed reports whether addr may try (it has a failure token left).
func (l *limiter) allowed(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(addr, now).tokens >= 1
}

// failure spends a token of addr.
func (l *limiter) failure(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr, now)
	b.tokens = max(0, b.tokens-1)
}
