package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/test/testwait"
)

// grantStatus reads an AccessGrant's status file.
func grantStatus(t *testing.T, h *testHome, ns, name string) (*v2alpha1.AccessGrant, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.ns(ns).StatusDir(), "AccessGrant-"+name+".yaml"))
	if err != nil {
		return nil, err
	}
	var g v2alpha1.AccessGrant
	if err := yaml.Unmarshal(data, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// TestDaemonGrantExpiresOnTime: an AccessGrant is Ready until its
// expiration time and Not Ready (Redeemable False, Expired) moments
// after it, without any other change: the daemon reconciles the
// namespace when the grant expires instead of waiting for its resync
// (5 minutes here, far beyond the wait).
func TestDaemonGrantExpiresOnTime(t *testing.T) {
	h := newTestHome(t)
	h.addNamespace("west")
	h.put("west", "site.yaml", siteYAML("west")+"spec:\n  linkAccess: default\n")
	startDaemon(t, h, daemonOpts{args: []string{"--resync", "5m"}}).waitReady()
	h.put("west", "grant.yaml", "apiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata:\n  name: soon\nspec:\n  expirationWindow: 6s\n  redemptionsAllowed: 3\n")

	var expires time.Time
	testwait.For(t, convergeTimeout, "the grant processed", func() (bool, string) {
		g, err := grantStatus(t, h, "west", "soon")
		if err != nil {
			return false, err.Error()
		}
		if expires, err = time.Parse(time.RFC3339, g.Status.ExpirationTime); err != nil {
			return false, fmt.Sprintf("expirationTime %q", g.Status.ExpirationTime)
		}
		return true, ""
	})
	if g, err := grantStatus(t, h, "west", "soon"); err != nil {
		t.Fatal(err)
	} else if time.Now().Before(expires) && g.Status.StatusType != v2alpha1.StatusReady {
		t.Fatalf("before its expiration (%s) the grant is %s: %s", expires.Format(time.RFC3339), g.Status.StatusType, g.Status.Message)
	}
	testwait.For(t, convergeTimeout, "the grant Not Ready once expired", func() (bool, string) {
		g, err := grantStatus(t, h, "west", "soon")
		if err != nil {
			return false, err.Error()
		}
		for _, c := range g.Status.Conditions {
			if c.Type == v2alpha1.ConditionRedeemable && c.Status == "False" && c.Reason == v2alpha1.ReasonExpired && g.Status.StatusType != v2alpha1.StatusReady {
				return true, ""
			}
		}
		return false, fmt.Sprintf("status %s: %s", g.Status.StatusType, g.Status.Message)
	})
	t.Logf("the grant turned Not Ready %s after its expiration time (second precision)", time.Since(expires).Round(time.Millisecond))
}
