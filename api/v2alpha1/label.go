package v2alpha1

// Names, routing keys and DNS labels are checked by hand rather than by
// regular expressions: a reconcile checks every name of a large namespace
// several times, and a regexp match costs about a microsecond each. The
// tests check these functions against the expressions they replace
// (FuzzLabels).

// label reports whether s is one or more bytes that all satisfy inner,
// starting and ending with one that satisfies edge.
func label(s string, edge, inner func(byte) bool) bool {
	if s == "" || !edge(s[0]) || !edge(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if !inner(s[i]) {
			return false
		}
	}
	return true
}

func lowerOrDigit(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func letterOrDigit(c byte) bool { return lowerOrDigit(c) || 'A' <= c && c <= 'Z' }

// isName matches ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ (an RFC 1123 label in
// lowercase, any length).
func isName(s string) bool {
	return label(s, lowerOrDigit, func(c byte) bool { return c == '-' || lowerOrDigit(c) })
}

// isRoutingKey matches ^[A-Za-z0-9]([A-Za-z0-9._:-]*[A-Za-z0-9])?$.
func isRoutingKey(s string) bool {
	return label(s, letterOrDigit, func(c byte) bool {
		return letterOrDigit(c) || c == '.' || c == '_' || c == ':' || c == '-'
	})
}

// isDNSLabel matches ^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$ (any length).
func isDNSLabel(s string) bool {
	return label(s, letterOrDigit, func(c byte) bool { return c == '-' || letterOrDigit(c) })
}
