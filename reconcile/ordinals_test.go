package reconcile_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/reconcile"
)

// profileOrdinal returns the ordinal of sslProfile name in n's
// skrouterd.json (0 when it has none).
func profileOrdinal(t *testing.T, ents []routerEntity, name string) int {
	t.Helper()
	p := mustEntity(t, ents, "sslProfile", name)
	if v, ok := p["ordinal"]; ok {
		f, isNum := v.(float64)
		require.True(t, isNum, "ordinal %v", v)
		return int(f)
	}
	return 0
}

// TestRenewedCredentialsRaiseTheOrdinal: each sslProfile's ordinal goes
// up by one when the credentials in its directory change (reissued after
// removal, renewed when due), once, and only for that profile; a
// reconcile that changes nothing keeps it.
func TestRenewedCredentialsRaiseTheOrdinal(t *testing.T) {
	h := newHarness(t)
	n := h.ns("west")
	h.writeInput(n, "site.yaml", siteDoc("west", "linkAccess: default\n"))
	h.reconcile(n)
	ents := readRouterConfig(t, n)
	require.Equal(t, 0, profileOrdinal(t, ents, "tls/west"))
	require.Equal(t, 0, profileOrdinal(t, ents, "tls/skupper-local-server"))

	// The link-access certificate is reissued.
	require.NoError(t, os.RemoveAll(n.RuntimeCertDir("west")))
	res := h.reconcile(n)
	require.True(t, res.CertsChanged)
	require.True(t, res.ConfigChanged, "the raised ordinal is a configuration change")
	ents = readRouterConfig(t, n)
	require.Equal(t, 1, profileOrdinal(t, ents, "tls/west"))
	require.Equal(t, 0, profileOrdinal(t, ents, "tls/skupper-local-server"))

	// Nothing changed: nothing moves.
	res = h.reconcile(n)
	require.False(t, res.CertsChanged)
	require.False(t, res.ConfigChanged)
	require.Equal(t, 1, profileOrdinal(t, readRouterConfig(t, n), "tls/west"))

	// Renewal due for every generated leaf.
	h.now = h.now.Add(300 * 24 * time.Hour)
	res = h.reconcile(n)
	require.True(t, res.CertsChanged)
	ents = readRouterConfig(t, n)
	require.Equal(t, 2, profileOrdinal(t, ents, "tls/west"))
	require.Equal(t, 1, profileOrdinal(t, ents, "tls/skupper-local-server"))

	// The ordinals survive a lost configuration (a crash before the
	// write): they are kept in internal/.
	require.NoError(t, os.Remove(n.RouterConfigPath()))
	h.reconcile(n)
	require.Equal(t, 2, profileOrdinal(t, readRouterConfig(t, n), "tls/west"))
	_, err := os.Stat(n.InternalDir() + "/" + reconcile.OrdinalsFile)
	require.NoError(t, err)
}
