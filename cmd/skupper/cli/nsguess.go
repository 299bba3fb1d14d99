package cli

import (
	"fmt"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
)

// requireSite refuses (exit 2, nothing written) a command that adds to a
// namespace without a Site: a mistyped -n would otherwise create a new
// namespace that nothing ever applies. Input files that cannot be read may
// hide the Site, so the namespace is not refused then.
func (a *app) requireSite(s *inputState) error {
	if len(s.ofKind(v2alpha1.KindSite)) > 0 || s.brokenFilesNote() != "" {
		return nil
	}
	return usageError("%s", noSiteMessage(s.ns))
}

// noSiteMessage says that ns has no site, suggesting the nearest
// namespace that has one.
func noSiteMessage(ns namespaces.Namespace) string {
	msg := fmt.Sprintf("namespace %q has no site", ns.Name)
	if guess := nearestSiteNamespace(ns); guess != "" {
		return fmt.Sprintf("%s; did you mean %q? (-n %s)", msg, guess, guess)
	}
	return fmt.Sprintf("%s; create one first with \"skupper site create <name> -n %s\"", msg, ns.Name)
}

// nearestSiteNamespace returns the namespace of the data home, other than
// ns, that defines a Site and whose name is nearest to ns's (at most two
// edits away), or "".
func nearestSiteNamespace(ns namespaces.Namespace) string {
	names, err := ns.Home.List()
	if err != nil {
		return ""
	}
	best, bestDist := "", 3
	for _, n := range names {
		if n == ns.Name {
			continue
		}
		d := editDistance(ns.Name, n)
		if d >= bestDist {
			continue
		}
		if s, err := readInput(ns.Home.Namespace(n)); err == nil && len(s.ofKind(v2alpha1.KindSite)) > 0 {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (with adjacent
// transpositions) between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
