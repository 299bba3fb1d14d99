package grantserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/grantclient"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/test/testwait"
)

// post calls the handler directly as a client at addr would.
func post(s http.Handler, addr, path, code string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(code))
	req.RemoteAddr = addr + ":40000"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestThrottledAddressLetsCorrectCodesThrough: an attacker guessing every
// 3 s from an address shared with legitimate clients no longer blocks
// them: 40 of 40 correct redemptions from that address succeed, while the
// attacker's guesses are throttled.
func TestThrottledAddressLetsCorrectCodesThrough(t *testing.T) {
	s, _, _, _ := newServer(t)
	clock := &fakeClock{now: time.Now()}
	s.SetClock(clock.Now)
	g := grant(100, clock.now.Add(24*time.Hour))
	s.SetGrants("west", []grantserver.Grant{g})
	const shared = "192.0.2.7"
	// Exhaust the address's failure burst at once.
	for i := range 20 {
		post(s, shared, "/"+uuid.NewString(), fmt.Sprint("guess-", i))
	}
	statuses := map[int]int{}
	ok := 0
	for i := range 40 {
		clock.add(3 * time.Second)
		statuses[post(s, shared, "/"+g.UID, fmt.Sprint("guess-", i)).Code]++
		if post(s, shared, "/"+g.UID, g.Code, "name", fmt.Sprint("link-", i)).Code == http.StatusOK {
			ok++
		}
	}
	require.Equal(t, 40, ok, "legitimate redemptions from the shared address")
	// Guesses are checked only at the refill rate (one per 6 s).
	require.LessOrEqual(t, statuses[http.StatusForbidden], 21, "the attacker's guesses: %v", statuses)
	require.GreaterOrEqual(t, statuses[http.StatusTooManyRequests], 19, "the attacker's guesses: %v", statuses)

	// The pass rate is bounded: a burst of correct codes from a throttled
	// address gets only a few through at once.
	passed := 0
	for i := range 20 {
		if post(s, shared, "/"+g.UID, g.Code, "name", fmt.Sprint("burst-", i)).Code == http.StatusOK {
			passed++
		}
	}
	require.Less(t, passed, 10, "correct codes through a throttled address at once")
}

// TestWrongCodesThrottledPerGrant: guesses at one grant spread over many
// addresses are throttled at the grant; the correct code still passes.
func TestWrongCodesThrottledPerGrant(t *testing.T) {
	s, _, _, _ := newServer(t)
	clock := &fakeClock{now: time.Now()}
	s.SetClock(clock.Now)
	g := grant(1, clock.now.Add(time.Hour))
	s.SetGrants("west", []grantserver.Grant{g})
	counts := map[int]int{}
	for i := range 500 {
		addr := fmt.Sprintf("198.51.100.%d", i%250)
		counts[post(s, addr, "/"+g.UID, fmt.Sprint("guess-", i)).Code]++
	}
	require.LessOrEqual(t, counts[http.StatusForbidden], 11, "%v", counts)
	require.GreaterOrEqual(t, counts[http.StatusTooManyRequests], 489, "%v", counts)
	require.Equal(t, http.StatusOK, post(s, "203.0.113.1", "/"+g.UID, g.Code).Code)
}

// TestGrantLocksBounded: requests for many well-formed unknown grant ids,
// concurrent with requests for a known one, leave no per-grant lock.
func TestGrantLocksBounded(t *testing.T) {
	s, _, _, _ := newServer(t)
	s.SetFailureLimit(1<<30, time.Millisecond)
	g := grant(1<<20, time.Now().Add(time.Hour))
	s.SetGrants("west", []grantserver.Grant{g})
	var wg sync.WaitGroup
	var oks atomic.Int32
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2500 {
				post(s, fmt.Sprint("10.0.0.", w), "/"+uuid.NewString(), "x")
				if i%100 == 0 && post(s, fmt.Sprint("10.0.1.", w), "/"+g.UID, g.Code, "name", fmt.Sprint("l", w, "-", i)).Code == 200 {
					oks.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 100, oks.Load())
	require.Zero(t, s.Locks(), "per-grant locks after 10,000 requests for unknown ids")
}

// TestStartingServerAnswers503AndClientRetries: a server still loading its
// grants answers an unknown grant 503 with Retry-After (not 404, which
// would burn the token); the client waits as told and redeems once the
// grant is served.
func TestStartingServerAnswers503AndClientRetries(t *testing.T) {
	s, iss, _, logs := newServer(t)
	s.SetStarting(true)
	g := grant(1, time.Now().Add(time.Hour))
	rec := post(s, "127.0.0.1", "/"+g.UID, g.Code)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "2", rec.Header().Get("Retry-After"))

	base, ca := tlsServer(t, s)
	done := make(chan error, 1)
	var res *grantclient.Result
	go func() {
		var err error
		res, err = grantclient.Redeem(t.Context(), token(base+"/"+g.UID, ca, g.Code), "east", grantclient.Options{})
		done <- err
	}()
	// Once the client has been told to wait, the grants are loaded.
	testwait.Until(t, 10*time.Second, "a 503 answered to the client", func() bool {
		return strings.Count(logs.String(), "starting") >= 1
	})
	s.SetGrants("west", []grantserver.Grant{g})
	s.SetStarting(false)
	require.NoError(t, <-done)
	require.Len(t, res.Links, 1)
	require.EqualValues(t, 1, iss.calls.Load())

	// Ready: an unknown grant is 404 again.
	rec = post(s, "127.0.0.1", "/"+uuid.NewString(), "x")
	require.Equal(t, http.StatusNotFound, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	require.Equal(t, "No such claim\n", string(body))
}

// TestClientRetryBounded: a server that keeps answering 503 makes the
// client give up within its retry window, with a transient error.
func TestClientRetryBounded(t *testing.T) {
	var calls atomic.Int32
	base, ca := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "The grant server is starting; try again later", http.StatusServiceUnavailable)
	}))
	start := time.Now()
	_, err := grantclient.Redeem(t.Context(), token(base+"/"+uid, ca, "c"), "east", grantclient.Options{RetryWindow: 2500 * time.Millisecond})
	require.Error(t, err)
	require.True(t, grantclient.Retryable(err))
	require.Less(t, time.Since(start), 5*time.Second)
	require.EqualValues(t, 3, calls.Load(), "one attempt, then a retry after each 1 s wait within 2.5 s")
}

// TestRedemptionReplayedById: a client that lost the answer and retries
// with the same redemption id (and code) gets the same answer without a
// second redemption; another id finds the grant used up.
func TestRedemptionReplayedById(t *testing.T) {
	s, iss, _, _ := newServer(t)
	g := grant(1, time.Now().Add(time.Hour))
	s.SetGrants("west", []grantserver.Grant{g})
	id := uuid.NewString()
	first := post(s, "127.0.0.1", "/"+g.UID, g.Code, grantserver.RedemptionIDHeader, id)
	require.Equal(t, http.StatusOK, first.Code)
	again := post(s, "127.0.0.1", "/"+g.UID, g.Code, grantserver.RedemptionIDHeader, id)
	require.Equal(t, http.StatusOK, again.Code)
	require.Equal(t, first.Body.String(), again.Body.String())
	require.EqualValues(t, 1, iss.calls.Load())
	require.Equal(t, http.StatusNotFound, post(s, "127.0.0.1", "/"+g.UID, g.Code, grantserver.RedemptionIDHeader, uuid.NewString()).Code)
	require.Equal(t, http.StatusNotFound, post(s, "127.0.0.1", "/"+g.UID, g.Code).Code)
	require.NotEqual(t, http.StatusOK, post(s, "127.0.0.1", "/"+g.UID, "wrong", grantserver.RedemptionIDHeader, id).Code)
}
