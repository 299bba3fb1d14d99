package certs

import (
	"errors"
	"time"
)

// ErrIssue is matched (errors.Is) by the errors of EnsureLeaf that come from
// issuing a new leaf: an invalid request or an issuer that cannot sign. Its
// other errors come from writing the bundle directory.
var ErrIssue = errors.New("issue certificate")

// issueError keeps the text of Issue's error and adds ErrIssue to its chain.
type issueError struct{ err error }

func (e issueError) Error() string   { return e.err.Error() }
func (e issueError) Unwrap() []error { return []error{e.err, ErrIssue} }

// EnsureLeaf is the one "ensure" step for a generated leaf certificate: it
// keeps dir holding a leaf for req signed by ca, and returns that leaf.
//
// The bundle already in dir is kept, and nothing is written, while
// Reusable(old, ca, req, now) holds: it passes Check, its ca.crt is ca.Cert,
// it is signed by ca, has req's common name, hosts and usage, and less than
// two thirds of its lifetime has passed (the renewal lead time of Reusable).
// Otherwise, including when dir is missing or cannot be read, a new leaf is
// issued at now and stored with WriteDir: dir created or tightened to 0700,
// tls.key 0600, ca.crt and tls.crt 0644, each file written atomically.
// changed reports whether anything on disk changed (as WriteDir reports it).
//
// Errors from issuing match ErrIssue and carry Issue's text; the others are
// WriteDir's. On error the returned bundle is empty.
func EnsureLeaf(dir string, ca Bundle, req Request, now time.Time) (b Bundle, changed bool, err error) {
	if old, err := ReadDir(dir); err == nil {
		if ok, _ := Reusable(old, ca, req, now); ok {
			return old, false, nil
		}
	}
	b, err = Issue(ca, req, now)
	if err != nil {
		return Bundle{}, false, issueError{err}
	}
	changed, err = WriteDir(dir, b)
	if err != nil {
		return Bundle{}, changed, err
	}
	return b, changed, nil
}
