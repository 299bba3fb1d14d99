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
// grant is no guess). Codes never appear in logs.
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
	"time"
)

// Limits.
const (
	// MaxBodySize bounds the request body (a code is a few dozen bytes).
	MaxBodySize = 4 << 10
	// failureBurst failed attempts are allowed per address before
	// throttling; one more is allowed every failureRefill.
	failureBurst  = 10
	failureRefill = 6 * time.Second
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

	mu     sync.Mutex
	grants map[string]Grant // by UID
	locks  map[string]*sync.Mutex

	limiter *limiter
}

// New returns a server answering with issuer and counting with store.
func New(issuer Issuer, store Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		issuer: issuer, store: store, log: log, now: time.Now,
		grants:  map[string]Grant{},
		locks:   map[string]*sync.Mutex{},
		limiter: newLimiter(failureBurst, failureRefill),
	}
}

// SetFailureLimit changes the throttling of failed attempts: burst
// failures per client address, then one more per refill period.
func (s *Server) SetFailureLimit(burst int, refill time.Duration) {
	s.limiter = newLimiter(burst, refill)
}

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

var uidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Server) grantLock(uid string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[uid]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[uid] = l
	}
	return l
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ServeHTTP implements the redemption protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	log := s.log.With("client", addr)
	// refuse answers a refusal; guesses (a wrong code, a grant id or path
	// that names no grant) also spend one of the address's failure tokens.
	refuse := func(code int, msg string, guess bool) {
		if guess {
			s.limiter.failure(addr, s.now())
		}
		log.Info("redemption refused", "status", code, "reason", msg)
		http.Error(w, msg, code)
	}
	fail := func(code int, msg string) { refuse(code, msg, true) }
	if !s.limiter.allowed(addr, s.now()) {
		log.Warn("redemption throttled: too many failed attempts")
		w.Header().Set("Retry-After", fmt.Sprint(int(failureRefill.Seconds())))
		http.Error(w, "Too many failed redemption attempts; try again later", http.StatusTooManyRequests)
		return
	}
	if r.Method != http.MethodPost {
		refuse(http.StatusMethodNotAllowed, "Only POST is supported", false)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil || len(body) > MaxBodySize {
		fail(http.StatusBadRequest, "Request body not valid")
		return
	}
	// The key is the path's single element: the grant uid. Anything else
	// (extra segments, traversal, encoded slashes) names no grant.
	uid := strings.TrimPrefix(r.URL.Path, "/")
	if !uidRE.MatchString(uid) || r.URL.RawPath != "" {
		fail(http.StatusNotFound, "No such claim")
		return
	}
	lock := s.grantLock(uid)
	lock.Lock()
	defer lock.Unlock()
	s.mu.Lock()
	g, ok := s.grants[uid]
	s.mu.Unlock()
	if !ok {
		fail(http.StatusNotFound, "No such claim")
		return
	}
	log = log.With("namespace", g.Namespace, "grant", g.Name)
	if !s.now().Before(g.Expires) {
		// Upstream's answer, with when: the caller knew the grant's
		// uid (128 random bits), so this tells a guesser nothing.
		refuse(http.StatusNotFound, "No such claim: this token expired at "+g.Expires.UTC().Format(time.RFC3339), false)
		return
	}
	count, err := s.store.Count(g)
	if err != nil {
		log.Error("read redemption count", "error", err)
		http.Error(w, "Internal error", http.StatusServiceUnavailable)
		return
	}
	if count >= g.Allowed {
		// Used up: not a guess (the caller knew the grant), so not
		// throttled — many sites may redeem one grant at once.
		refuse(http.StatusNotFound, "No such access granted", false)
		return
	}
	if subtle.ConstantTimeCompare(body, []byte(g.Code)) != 1 {
		fail(http.StatusForbidden, "Redemption of access token refused")
		return
	}
	if _, err := s.store.Record(g); err != nil {
		log.Error("record redemption", "error", err)
		http.Error(w, "Internal error", http.StatusServiceUnavailable)
		return
	}
	name := r.Header.Get("name")
	if name == "" {
		name = g.Name
	}
	subject := r.Header.Get("subject")
	if subject == "" {
		subject = name
	}
	answer, err := s.issuer.Issue(r.Context(), g, name, subject)
	if err != nil {
		var ie *IssueError
		code := http.StatusInternalServerError
		if errors.As(err, &ie) && ie.Status != 0 {
			code = ie.Status
		}
		log.Error("issue link credentials", "error", err)
		http.Error(w, err.Error(), code)
		return
	}
	log.Info("token redeemed", "link", name, "subject", subject, "redemptions", count+1, "allowed", g.Allowed)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(answer)
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
