package main

// Status observed from the real router: Links become Ready with their
// remote site, listeners and connectors match across sites, and Sites
// report the network, all from what the routers report.

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/test/realrouter"
	"github.com/skupperd/skupperd/test/testwait"
)

// observedTimeout bounds waits for status derived from the routers.
const observedTimeout = 2 * time.Minute

// statusOf reads a resource's status file, nil while there is none.
func statusOf[T v2alpha1.Object](ns namespaces.Namespace, kind, name string) (T, bool) {
	var zero T
	obj, err := ns.ReadStatus(v2alpha1.Key{Kind: kind, Name: name})
	if err != nil {
		return zero, false
	}
	o, ok := obj.(T)
	return o, ok
}

// linkReady reports whether Link name of ns is Ready and operational.
func linkReady(ns namespaces.Namespace, name string) (bool, string) {
	l, ok := statusOf[*v2alpha1.Link](ns, v2alpha1.KindLink, name)
	if !ok {
		return false, "no status yet"
	}
	op, _ := conditionTrue(l.Status.Conditions, v2alpha1.ConditionOperational)
	return op && l.Status.StatusType == v2alpha1.StatusReady, fmt.Sprintf("%s: %s", l.Status.StatusType, l.Status.Message)
}

// sitesIn reports a Site's sitesInNetwork and the names in its network.
func sitesIn(ns namespaces.Namespace, name string) (int, []string) {
	s, ok := statusOf[*v2alpha1.Site](ns, v2alpha1.KindSite, name)
	if !ok {
		return 0, nil
	}
	var names []string
	for _, r := range s.Status.Network {
		names = append(names, r.Name)
	}
	return s.Status.SitesInNetwork, names
}

func matched(ns namespaces.Namespace, kind, name string) (bool, string) {
	obj, err := ns.ReadStatus(v2alpha1.Key{Kind: kind, Name: name})
	if err != nil {
		return false, err.Error()
	}
	st := obj.GetStatus()
	ok, _ := conditionTrue(st.Conditions, v2alpha1.ConditionMatched)
	return ok, st.Message
}

func mustPort(t testing.TB) string {
	_, p, err := net.SplitHostPort(freePort(t))
	require.NoError(t, err)
	return p
}

// TestRealRouterObservedStatus: two sites under one skupperd, linked by a
// token. The Link becomes Ready with remoteSiteName within 2 s of the link
// carrying traffic; the listener and the connector across the link are
// Matched; both Sites count 2 sites and name each other. When west's
// router stops, east's Link leaves Ready within 5 s, and once west's
// records expire east counts 1 site again.
func TestRealRouterObservedStatus(t *testing.T) {
	bin := realrouter.Binary(t)
	e := newEnv(t)
	startRealRouterDaemon(t, e, bin)
	home := namespaces.NewHome(e.home)
	west, east := home.Namespace("west"), home.Namespace("east")
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access")
	e.ok("-n", "east", "site", "create", "east")
	echo := realrouter.EchoServer(t)
	p := mustPort(t)
	listen, _ := strconv.Atoi(p)
	e.ok("-n", "west", "listener", "create", "backend", p, "--host", "127.0.0.1")
	e.ok("-n", "east", "connector", "create", "backend", strconv.Itoa(echo), "--host", "127.0.0.1")

	tok := filepath.Join(t.TempDir(), "token.yaml")
	e.ok("-n", "west", "token", "issue", tok)
	e.ok("-n", "east", "token", "redeem", tok)
	keys, err := east.ListStatus()
	require.NoError(t, err)
	link := ""
	for _, k := range keys {
		if k.Kind == v2alpha1.KindLink {
			link = k.Name
		}
	}
	require.NotEmpty(t, link, "the redeemed token's Link")

	// The link is up once bytes cross it; its status must follow.
	waitRealTraffic(t, listen, "west to east")
	up := time.Now()
	testwait.For(t, observedTimeout, "east's Link Ready", func() (bool, string) {
		ok, why := linkReady(east, link)
		s, _ := statusOf[*v2alpha1.Site](east, v2alpha1.KindSite, "east")
		if s != nil {
			why += fmt.Sprintf("; east's network: %+v", s.Status.Network)
		}
		return ok, why
	})
	took := time.Since(up)
	t.Logf("Link %s Ready %s after traffic first crossed it", link, took.Round(time.Millisecond))
	// The 2 s target is a speed figure (BenchmarkRealRouterLinkUpStatus
	// measures it); the test asserts the outcome, not a machine's speed.
	l, _ := statusOf[*v2alpha1.Link](east, v2alpha1.KindLink, link)
	require.Equal(t, "west", l.Status.RemoteSiteName)
	require.NotEmpty(t, l.Status.RemoteSiteID)

	testwait.For(t, observedTimeout, "west's listener matched by east's connector", func() (bool, string) {
		return matched(west, v2alpha1.KindListener, "backend")
	})
	testwait.For(t, observedTimeout, "east's connector matched by west's listener", func() (bool, string) {
		return matched(east, v2alpha1.KindConnector, "backend")
	})
	for _, s := range []struct {
		ns         namespaces.Namespace
		site, peer string
	}{{west, "west", "east"}, {east, "east", "west"}} {
		testwait.For(t, observedTimeout, s.site+" sees 2 sites", func() (bool, string) {
			n, names := sitesIn(s.ns, s.site)
			return n == 2 && len(names) == 2 && (names[0] == s.peer || names[1] == s.peer), fmt.Sprintf("%d sites: %v", n, names)
		})
	}
	r := e.ok("-n", "east", "link", "status")
	require.Regexp(t, link+`\s+Ready`, r.stdout)
	// The accepting site lists the link east made to it.
	testwait.For(t, observedTimeout, "west's link status to list east's link", func() (bool, string) {
		r := e.ok("-n", "west", "link", "status")
		return regexp.MustCompile(`Links from remote sites:\s+SITE\s+LINK\s+STATUS\s+east\s+` + regexp.QuoteMeta(link) + `\s+Operational`).MatchString(r.stdout), r.stdout
	})
	r = e.ok("-n", "west", "site", "status")
	require.Regexp(t, `Sites in network:\s+2`, r.stdout)
	require.Regexp(t, `Network:\s+(east, west|west, east)`, r.stdout)

	// A change of the link waits, by default, until the link is Ready
	// again.
	start := time.Now()
	r = e.ok("-n", "east", "link", "update", link, "--cost", "2")
	t.Logf("link update --cost 2 returned after %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(r.stdout))
	l, _ = statusOf[*v2alpha1.Link](east, v2alpha1.KindLink, link)
	require.Equal(t, 2, l.Spec.Cost)
	require.Equal(t, v2alpha1.StatusReady, l.Status.StatusType)

	// West's router stops: east's link goes down at once, and west is
	// forgotten when its records expire.
	e.ok("-n", "west", "system", "stop")
	stopped := time.Now()
	testwait.For(t, observedTimeout, "east's Link to leave Ready", func() (bool, string) {
		ok, why := linkReady(east, link)
		return !ok, why
	})
	t.Logf("east's Link left Ready %s after west's router was stopped", time.Since(stopped).Round(time.Millisecond))
	testwait.For(t, observedTimeout, "east to count 1 site", func() (bool, string) {
		n, names := sitesIn(east, "east")
		return n == 1, fmt.Sprintf("%d sites: %v", n, names)
	})
	t.Logf("east counted 1 site %s after west's router was stopped", time.Since(stopped).Round(time.Millisecond))
}

// TestRealRouterMatchingAcrossAChain: three sites A–B–C in a chain (B
// links to A, C links to B): A's listener is matched by C's connector, two
// hops away.
func TestRealRouterMatchingAcrossAChain(t *testing.T) {
	bin := realrouter.Binary(t)
	e := newEnv(t)
	startRealRouterDaemon(t, e, bin)
	home := namespaces.NewHome(e.home)
	a, c := home.Namespace("a"), home.Namespace("c")
	e.ok("-n", "a", "site", "create", "a", "--enable-link-access")
	e.ok("-n", "b", "site", "create", "b", "--enable-link-access")
	e.ok("-n", "c", "site", "create", "c")
	echo := realrouter.EchoServer(t)
	p := mustPort(t)
	listen, _ := strconv.Atoi(p)
	e.ok("-n", "a", "listener", "create", "backend", p, "--host", "127.0.0.1")
	e.ok("-n", "c", "connector", "create", "backend", strconv.Itoa(echo), "--host", "127.0.0.1")
	for _, pair := range [][2]string{{"a", "b"}, {"b", "c"}} {
		tok := filepath.Join(t.TempDir(), pair[0]+".token")
		e.ok("-n", pair[0], "token", "issue", tok)
		e.ok("-n", pair[1], "token", "redeem", tok)
	}
	waitRealTraffic(t, listen, "a to c across b")
	testwait.For(t, observedTimeout, "a's listener matched by c's connector", func() (bool, string) {
		return matched(a, v2alpha1.KindListener, "backend")
	})
	testwait.For(t, observedTimeout, "c's connector matched by a's listener", func() (bool, string) {
		return matched(c, v2alpha1.KindConnector, "backend")
	})
	testwait.For(t, observedTimeout, "a sees 3 sites", func() (bool, string) {
		n, names := sitesIn(a, "a")
		return n == 3, fmt.Sprintf("%d sites: %v", n, names)
	})
}

// BenchmarkRealRouterLinkUpStatus measures how long east's Link status
// takes to say Ready after its link comes up again (west's router stopped
// and started; "up" is when traffic first crosses it again), as p50 and
// p99 over b.N cycles. Run with -benchtime 10x: each cycle restarts a
// router.
func BenchmarkRealRouterLinkUpStatus(b *testing.B) {
	bin := realrouter.Binary(b)
	e := newEnv(b)
	startRealRouterDaemon(b, e, bin)
	home := namespaces.NewHome(e.home)
	east := home.Namespace("east")
	e.ok("-n", "west", "site", "create", "west", "--enable-link-access")
	e.ok("-n", "east", "site", "create", "east")
	echo := realrouter.EchoServer(b)
	p := mustPort(b)
	listen, _ := strconv.Atoi(p)
	e.ok("-n", "west", "listener", "create", "backend", p, "--host", "127.0.0.1")
	e.ok("-n", "east", "connector", "create", "backend", strconv.Itoa(echo), "--host", "127.0.0.1")
	tok := filepath.Join(b.TempDir(), "token.yaml")
	e.ok("-n", "west", "token", "issue", tok)
	e.ok("-n", "east", "token", "redeem", tok)
	keys, _ := east.ListStatus()
	link := ""
	for _, k := range keys {
		if k.Kind == v2alpha1.KindLink {
			link = k.Name
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		e.ok("-n", "west", "system", "stop")
		testwait.For(b, observedTimeout, "the Link to leave Ready", func() (bool, string) { ok, why := linkReady(east, link); return !ok, why })
		e.ok("-n", "west", "system", "start")
		testwait.For(b, realTrafficTimeout, "traffic across the link", realrouter.EchoCheck(listen, "again"))
		up := time.Now()
		testwait.For(b, observedTimeout, "the Link Ready", func() (bool, string) { return linkReady(east, link) })
		lat = append(lat, time.Since(up))
	}
	b.StopTimer()
	inOrder := slices.Clone(lat)
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
	b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
	b.Logf("link up → Link Ready over %d cycles: p50 %s, p99 %s, cycle by cycle %v", len(lat), p50, p99, inOrder)
}
