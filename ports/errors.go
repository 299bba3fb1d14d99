package ports

import (
	"errors"
	"fmt"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// Owner names who uses a port, for messages.
type Owner struct {
	// Namespace holding the reservation.
	Namespace string
	// What uses the port, e.g. "Listener/backend" (Claim.What / Entry.What).
	What string
}

// String renders the owner as `Listener/backend in namespace "west"`, or
// `namespace "west"` when What is empty.
func (o Owner) String() string {
	if o.What == "" {
		return fmt.Sprintf("namespace %q", o.Namespace)
	}
	return fmt.Sprintf("%s in namespace %q", o.What, o.Namespace)
}

// ConflictError reports that a fixed claim's port is already used by another
// owner on a clashing host: a reservation of another namespace, or an
// earlier fixed claim of the same Assign call.
type ConflictError struct {
	// Claim is the claim that was refused; it got no port.
	Claim Claim
	// Owner is who holds the port.
	Owner Owner
	// OwnerHost is the bind host of the owner's reservation ("" = all interfaces).
	OwnerHost string
	// Port is the contested port.
	Port int
}

// Error reads e.g. `port 55671 (RouterAccess/west role inter-router) is
// already used by router inter-router port in namespace "east"`; when the
// hosts differ it adds which hosts clash.
func (e *ConflictError) Error() string {
	what := e.Claim.What
	if what == "" {
		what = e.Claim.Key
	}
	msg := fmt.Sprintf("port %d (%s) is already used by %s", e.Port, what, e.Owner)
	if a, b := displayHost(e.Claim.Host), displayHost(e.OwnerHost); a != b {
		msg += fmt.Sprintf(" (host %s clashes with %s)", a, b)
	}
	return msg + "; choose another port"
}

// ClaimKey is the Key of the refused claim.
func (e *ConflictError) ClaimKey() string { return e.Claim.Key }

// NoFreePortError reports that no port from the role's base port up to
// 65535 is free for an allocation claim.
type NoFreePortError struct {
	Claim Claim
	// From is the first port searched.
	From int
}

func (e *NoFreePortError) Error() string {
	what := e.Claim.What
	if what == "" {
		what = e.Claim.Key
	}
	return fmt.Sprintf("no free port for %s (role %s): every port from %d to %d is reserved or in use", what, e.Claim.Role, e.From, v2alpha1.MaxPort)
}

// ClaimKey is the Key of the claim that got no port.
func (e *NoFreePortError) ClaimKey() string { return e.Claim.Key }

// CorruptTableError reports a ports table that cannot be read. Assign
// refuses to decide while any table of the data home is unreadable, because
// ignoring one could hand out its ports twice. Release does not read tables,
// so it can clear a corrupt one.
type CorruptTableError struct {
	// Path of the table file.
	Path string
	// Namespace whose table it is.
	Namespace string
	Err       error
}

func (e *CorruptTableError) Error() string {
	return fmt.Sprintf("ports table %s of namespace %q is corrupt: %v; fix the file or delete it (namespace %q then gets its router ports re-allocated on its next reconcile)", e.Path, e.Namespace, e.Err, e.Namespace)
}

func (e *CorruptTableError) Unwrap() error { return e.Err }

// ClaimErrors splits an error returned by Assign into the errors of single
// claims, keyed by Claim.Key (*ConflictError, *NoFreePortError), and the
// remaining errors that concern no single claim (joined, nil if none), so a
// caller can attach each message to the resource that made the claim.
func ClaimErrors(err error) (byKey map[string]error, other error) {
	var rest []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		var ce interface{ ClaimKey() string }
		if errors.As(e, &ce) {
			if byKey == nil {
				byKey = map[string]error{}
			}
			if prev := byKey[ce.ClaimKey()]; prev != nil {
				e = errors.Join(prev, e)
			}
			byKey[ce.ClaimKey()] = e
			return
		}
		rest = append(rest, e)
	}
	walk(err)
	return byKey, errors.Join(rest...)
}

func displayHost(h string) string {
	if h == "" {
		return "0.0.0.0"
	}
	return h
}
