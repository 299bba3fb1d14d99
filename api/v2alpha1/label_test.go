package v2alpha1

import (
	"regexp"
	"testing"
)

// The expressions the hand-written checks replace.
var (
	nameRE       = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	routingKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._:-]*[A-Za-z0-9])?$`)
	dnsLabelRE   = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$`)
)

// checkLabels fails when a hand-written check disagrees with its
// expression about s.
func checkLabels(t *testing.T, s string) {
	t.Helper()
	for _, c := range []struct {
		name string
		re   *regexp.Regexp
		f    func(string) bool
	}{{"isName", nameRE, isName}, {"isRoutingKey", routingKeyRE, isRoutingKey}, {"isDNSLabel", dnsLabelRE, isDNSLabel}} {
		if got, want := c.f(s), c.re.MatchString(s); got != want {
			t.Errorf("%s(%q) = %v, the expression says %v", c.name, s, got, want)
		}
	}
}

func TestLabels(t *testing.T) {
	for _, s := range []string{"", "a", "A", "-", "a-", "-a", "a-b", "a--b", "aB", "Ab", "a.b", "a_b", "a:b", ".a", "a.",
		"0", "0-0", "abc-123", "ABC", "a b", "é", "aé", "a\n", "a\x00b", "west", "backend:8080", "x.y_z:w"} {
		checkLabels(t, s)
	}
}

func FuzzLabels(f *testing.F) {
	for _, s := range []string{"", "a", "a-b", "A.b:c_d", "-x", "x-", "ab\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkLabels(t, s) })
}
