// Package grantclient redeems an AccessToken at the grant server that
// issued it, speaking the protocol of upstream Skupper (compatible with
// Kubernetes sites and with skupperd's own grant server):
//
//	POST <spec.url>
//	name: <AccessToken metadata.name>
//	subject: <subject>
//
//	<spec.code>                     (the raw code; no Content-Type)
//
// The server answers 200 with a YAML stream: a core v1 Secret (a client
// certificate, its key and the CA) followed by one Link per endpoint group.
// Anything else is a refusal whose body text is shown to the user.
//
// The client trusts only the CA in the token (no system roots), requires
// TLS 1.3, never follows redirects, bounds the time and the response size,
// and always closes the response body.
package grantclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// Limits.
const (
	// DefaultTimeout bounds one redemption (as upstream: 10 s).
	DefaultTimeout = 10 * time.Second
	// MaxResponseSize bounds the answer read from a grant server.
	MaxResponseSize = 1 << 20
	// DefaultRetryWindow bounds the time spent waiting, as a server's 503
	// Retry-After asks (a grant server that is starting), before a
	// redemption gives up with a transient error; MaxRetryAfter bounds one
	// wait whatever the server says, and a missing or unreadable
	// Retry-After waits DefaultRetryAfter.
	DefaultRetryWindow = 30 * time.Second
	MaxRetryAfter      = 10 * time.Second
	DefaultRetryAfter  = time.Second
)

// Result is what a redemption yields.
type Result struct {
	// Secret holds the link's client credentials (ca.crt, tls.crt, tls.key).
	Secret *v2alpha1.Secret
	// Links are the links to create, one per endpoint group.
	Links []*v2alpha1.Link
	// Raw is the server's answer as received (set by Redeem), so that a
	// caller can keep it durably before acting on it.
	Raw []byte
}

// Kind classifies a redemption failure.
type Kind int

// Failure kinds.
const (
	// Refused: the server answered and said no (expired, used up, wrong
	// code, unknown grant). Retrying the same token cannot succeed.
	Refused Kind = iota + 1
	// Transient: unreachable, timed out, or a server error. Retrying later
	// may succeed.
	Transient
	// Invalid: the token itself cannot be used (bad URL, bad CA).
	Invalid
)

// Error is a failed redemption.
type Error struct {
	Kind Kind
	// Status is the HTTP status code (0 when there was no answer).
	Status int
	// Message is the server's answer (verbatim, trimmed) or the cause.
	Message string
	// Unreachable: no connection to the grant server could be made (a
	// transient failure that the user can usually fix: a wrong address,
	// a server that is down, a firewall).
	Unreachable bool
	Err         error

	retryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("Received HTTP Response %d: %s", e.Status, e.Message)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// The grant server's answers to a refused redemption (upstream's texts,
// which skupperd's grant server also sends).
const (
	answerNoClaim  = "No such claim"
	answerUsedUp   = "No such access granted"
	answerRefused  = "Redemption of access token refused"
	expiredAtLabel = "expired at "
)

// Describe says in the user's words why a redemption failed: "this token
// has already been used", "this token expired at ...", "the token's code
// was not accepted", rather than the HTTP exchange. Errors it does not
// recognise keep their own text.
func Describe(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	switch {
	case e.Unreachable:
		return e.Message
	case e.Status == http.StatusNotFound && strings.HasPrefix(e.Message, answerUsedUp):
		return "this token has already been used: its grant allows no more redemptions (ask the issuing site for a new token)"
	case e.Status == http.StatusNotFound && strings.Contains(e.Message, expiredAtLabel):
		at := e.Message[strings.Index(e.Message, expiredAtLabel)+len(expiredAtLabel):]
		return fmt.Sprintf("this token expired at %s (ask the issuing site for a new token)", strings.TrimSpace(at))
	case e.Status == http.StatusNotFound && strings.HasPrefix(e.Message, answerNoClaim):
		return "the grant server does not know this token: it expired, or its AccessGrant was deleted (ask the issuing site for a new token)"
	case e.Status == http.StatusForbidden:
		return "the token's code was not accepted by the grant server (the token file may be damaged or altered; ask the issuing site for a new token)"
	case e.Kind == Refused && e.Status == 0:
		return "the grant server's certificate is not the one the token trusts (the token's CA): " + e.Message
	}
	return e.Error()
}

// RedemptionIDHeader carries the id of a redemption (see WithRequestID);
// skupperd's grant server answers a retry with the same id and code with
// the answer it already gave, without counting a second redemption.
// Other servers ignore it.
const RedemptionIDHeader = "skupper-redemption-id"

type requestIDKey struct{}

// WithRequestID returns a context whose redemptions carry id (16 to 64
// characters, random, kept durably by the caller before the first attempt
// and reused for every retry of the same redemption).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// Retryable reports whether err is worth retrying later.
func Retryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Transient
}

// Options tune a Client.
type Options struct {
	// Timeout bounds each redemption attempt (default DefaultTimeout).
	Timeout time.Duration
	// RetryWindow bounds the waits before retrying a 503 answer (default
	// DefaultRetryWindow; negative: no retry).
	RetryWindow time.Duration
}

// Redeem redeems token, presenting subject (the redeeming site's name) to
// the grant server.
func Redeem(ctx context.Context, token *v2alpha1.AccessToken, subject string, opts Options) (*Result, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	u, err := url.Parse(token.Spec.URL)
	if err != nil {
		return nil, &Error{Kind: Invalid, Message: fmt.Sprintf("could not parse token url: %v", err), Err: err}
	}
	if u.Scheme != "https" {
		return nil, &Error{Kind: Invalid, Message: "token url scheme must be https"}
	}
	if token.Spec.CA == "" {
		return nil, &Error{Kind: Invalid, Message: "token does not have a CA"}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(token.Spec.CA)) {
		return nil, &Error{Kind: Invalid, Message: "token CA is not a PEM certificate"}
	}
	transport := &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13},
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1, as upstream
		Proxy:                 http.ProxyFromEnvironment,
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: opts.Timeout,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	if opts.RetryWindow == 0 {
		opts.RetryWindow = DefaultRetryWindow
	}
	deadline := time.Now().Add(opts.RetryWindow)
	for {
		res, wait, err := attempt(ctx, client, token, subject, u)
		if wait <= 0 || time.Now().Add(wait).After(deadline) {
			return res, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// retryAfter reads a 503's Retry-After (seconds or an HTTP date), bounded
// by MaxRetryAfter.
func retryAfter(resp *http.Response) time.Duration {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	wait := DefaultRetryAfter
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		wait = time.Duration(n) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		wait = time.Until(at)
	}
	return min(MaxRetryAfter, max(100*time.Millisecond, wait))
}

// attempt makes one request; wait > 0 asks for a retry after wait.
func attempt(ctx context.Context, client *http.Client, token *v2alpha1.AccessToken, subject string, u *url.URL) (*Result, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, token.Spec.URL, strings.NewReader(token.Spec.Code))
	if err != nil {
		return nil, 0, &Error{Kind: Invalid, Message: fmt.Sprintf("could not build request: %v", err), Err: err}
	}
	req.Header.Set("name", token.Name)
	req.Header.Set("subject", subject)
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		req.Header.Set(RedemptionIDHeader, id)
	}
	res, err := send(client, req, u)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
		return nil, e.retryAfter, err
	}
	return res, 0, err
}

// send sends req and reads the answer.
func send(client *http.Client, req *http.Request, u *url.URL) (*Result, error) {
	resp, err := client.Do(req)
	if err != nil {
		kind := classifyTransport(err)
		return nil, &Error{Kind: kind, Unreachable: kind == Transient, Message: fmt.Sprintf("could not reach the grant server at %s: %v", u.Host, err), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, &Error{Kind: Transient, Status: 0, Message: fmt.Sprintf("reading the grant server's answer: %v", err), Err: err}
	}
	if len(body) > MaxResponseSize {
		return nil, &Error{Kind: Transient, Message: fmt.Sprintf("the grant server's answer exceeds %d bytes", MaxResponseSize)}
	}
	if resp.StatusCode != http.StatusOK {
		kind := Refused
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			kind = Transient
		}
		e := &Error{Kind: kind, Status: resp.StatusCode, Message: strings.TrimSpace(string(body))}
		if resp.StatusCode == http.StatusServiceUnavailable {
			e.retryAfter = retryAfter(resp)
		}
		return nil, e
	}
	res, err := ParseResponse(body)
	if err != nil {
		return nil, &Error{Kind: Transient, Status: 0, Message: fmt.Sprintf("the grant server's answer is not a Secret and Links: %v", err), Err: err}
	}
	res.Raw = body
	return res, nil
}

// classifyTransport tells a TLS trust failure (the token's CA does not
// match: refused for good) from network trouble (transient).
func classifyTransport(err error) Kind {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var tlsErr *tls.CertificateVerificationError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &tlsErr) {
		return Refused
	}
	return Transient
}

// ParseResponse decodes a grant server's answer: a Secret then Links. It
// tolerates fields it does not know (a grant server may add metadata), and
// checks that the Secret holds TLS credentials and each Link endpoints.
func ParseResponse(body []byte) (*Result, error) {
	res := &Result{}
	for i, doc := range splitYAML(body) {
		var tm v2alpha1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		switch {
		case res.Secret == nil:
			if tm.Kind != v2alpha1.KindSecret {
				return nil, fmt.Errorf("document %d is a %q, expected the Secret first", i+1, tm.Kind)
			}
			s := &v2alpha1.Secret{}
			if err := yaml.Unmarshal(doc, s); err != nil {
				return nil, fmt.Errorf("secret: %w", err)
			}
			for _, k := range []string{v2alpha1.SecretKeyCA, v2alpha1.SecretKeyCert, v2alpha1.SecretKeyKey} {
				if _, ok := s.SecretValue(k); !ok {
					return nil, fmt.Errorf("secret %q lacks %s", s.Name, k)
				}
			}
			res.Secret = s
		case tm.Kind == v2alpha1.KindLink:
			l := &v2alpha1.Link{}
			if err := yaml.Unmarshal(doc, l); err != nil {
				return nil, fmt.Errorf("link: %w", err)
			}
			if len(l.Spec.Endpoints) == 0 {
				return nil, fmt.Errorf("link %q has no endpoints", l.Name)
			}
			res.Links = append(res.Links, l)
		default:
			return nil, fmt.Errorf("document %d is a %q, expected a Link", i+1, tm.Kind)
		}
	}
	if res.Secret == nil {
		return nil, errors.New("no Secret in the answer")
	}
	if len(res.Links) == 0 {
		return nil, errors.New("no Link in the answer")
	}
	return res, nil
}

// splitYAML splits a YAML stream at document markers, dropping empty
// documents.
func splitYAML(data []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		// Each part starts with the rest of its marker line ("" or
		// " # comment"); the document follows the newline.
		i := bytes.IndexByte(part, '\n')
		if i < 0 {
			continue
		}
		if doc := part[i+1:]; len(bytes.TrimSpace(doc)) > 0 {
			out = append(out, doc)
		}
	}
	return out
}
