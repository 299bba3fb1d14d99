package reconcile_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/reconcile"
	"github.com/skupperd/skupperd/render"
	"github.com/skupperd/skupperd/router"
)

// TestUnboundListeners: a listener the router cannot listen on (another
// process holds its port) makes its own Listener or RouterAccess Error
// with the reason, and the Site names the RouterAccess's; the other
// resources are untouched. A Refresh without the report restores them.
func TestUnboundListeners(t *testing.T) {
	h := newHarness(t)
	n := h.ns("west")
	h.writeInput(n, "site.yaml", siteDoc("west", "linkAccess: default\n"))
	h.writeInput(n, "busy.yaml", listenerDoc("busy", 9090, ""))
	h.writeInput(n, "fine.yaml", listenerDoc("fine", 9091, ""))
	opts := h.options()
	opts.Router = router.State{Running: true, Message: "Router running (pid 1)", PID: 1}
	const listenerMsg = "port 9090 is held by another process (Address already in use - listen on 127.0.0.1:9090); the listener is retried as soon as the port is free"
	const accessMsg = "inter-router port 55671 is held by another process; the router listens on it as soon as it is free"
	opts.Unbound = map[string]string{
		render.ListenerEntityName("busy"):                     listenerMsg,
		render.RouterAccessEntityName("west", "inter-router"): accessMsg,
	}
	res, err := reconcile.Run(context.Background(), n, opts)
	require.NoError(t, err)
	require.Equal(t, reconcile.Applied, res.Outcome)

	busy := h.statusOf(n, v2alpha1.KindListener, "busy")
	require.Equal(t, v2alpha1.StatusError, busy.StatusType)
	require.Equal(t, listenerMsg, busy.Message)
	c, ok := condition(busy, v2alpha1.ConditionOperational)
	require.True(t, ok)
	require.Equal(t, "False", c.Status)
	require.Equal(t, v2alpha1.ReasonPortInUse, c.Reason)
	c, _ = condition(busy, v2alpha1.ConditionConfigured)
	require.Equal(t, "True", c.Status, "the listener is configured; it cannot listen")

	fine := h.statusOf(n, v2alpha1.KindListener, "fine")
	require.NotEqual(t, v2alpha1.StatusError, fine.StatusType)
	_, ok = condition(fine, v2alpha1.ConditionOperational)
	require.False(t, ok)

	ra := h.statusOf(n, v2alpha1.KindRouterAccess, "west")
	require.Equal(t, v2alpha1.StatusError, ra.StatusType)
	require.Equal(t, accessMsg, ra.Message)

	site := h.statusOf(n, v2alpha1.KindSite, "west")
	require.Equal(t, v2alpha1.StatusPending, site.StatusType)
	c, ok = condition(site, v2alpha1.ConditionOperational)
	require.True(t, ok)
	require.Equal(t, v2alpha1.ReasonPortInUse, c.Reason)
	require.Equal(t, "link access (RouterAccess west): "+accessMsg, c.Message)

	require.NoError(t, reconcile.Refresh(res, opts.Router, nil, nil))
	require.NotEqual(t, v2alpha1.StatusError, h.statusOf(n, v2alpha1.KindListener, "busy").StatusType)
	require.Equal(t, v2alpha1.StatusReady, h.statusOf(n, v2alpha1.KindRouterAccess, "west").StatusType)
	_, ok = condition(h.statusOf(n, v2alpha1.KindSite, "west"), v2alpha1.ConditionOperational)
	require.False(t, ok)
	require.Equal(t, v2alpha1.StatusReady, h.statusOf(n, v2alpha1.KindSite, "west").StatusType)
}
