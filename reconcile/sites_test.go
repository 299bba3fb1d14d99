package reconcile_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/reconcile"
)

// TestInvalidSecondSiteDoesNotBlock: an invalid extra Site document is an
// error of its own; the valid Site keeps applying, and later changes of
// the namespace still apply.
func TestInvalidSecondSiteDoesNotBlock(t *testing.T) {
	h := newHarness(t)
	n := h.ns("west")
	h.writeInput(n, "site.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: west\n")
	h.writeInput(n, "listener.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: db\nspec:\n  routingKey: db\n  host: 127.0.0.1\n  port: 5432\n")
	require.Equal(t, reconcile.Applied, h.reconcile(n).Outcome)

	h.writeInput(n, "zz-extra.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Site\nmetadata:\n  name: extra\nspec:\n  linkAccess: bogus\n")
	h.writeInput(n, "listener.yaml", "apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: db\nspec:\n  routingKey: db\n  host: 127.0.0.1\n  port: 5433\n")
	res := h.reconcile(n)
	require.Equal(t, reconcile.Applied, res.Outcome, "%v", res.Diagnostics)
	cfg, err := os.ReadFile(n.RouterConfigPath())
	require.NoError(t, err)
	require.Contains(t, string(cfg), `"port": "5433"`, "the later change applies")

	site := h.status(n, v2alpha1.KindSite, "west").(*v2alpha1.Site)
	require.NotEqual(t, v2alpha1.StatusError, site.Status.StatusType, site.Status.Message)
	extra := h.status(n, v2alpha1.KindSite, "extra").(*v2alpha1.Site)
	require.Equal(t, v2alpha1.StatusError, extra.Status.StatusType)
	require.Contains(t, extra.Status.Message, "linkAccess")
	var diag string
	for _, d := range res.Diagnostics {
		if d.Name == "extra" {
			diag += d.Error() + "\n"
		}
	}
	require.True(t, strings.Contains(diag, "exactly one Site"), diag)
}
