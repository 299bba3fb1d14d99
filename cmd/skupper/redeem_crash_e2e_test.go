package main

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skupperd/skupperd/api/v2alpha1"
	"github.com/skupperd/skupperd/grantserver"
	"github.com/skupperd/skupperd/namespaces"
	"github.com/skupperd/skupperd/test/testwait"
)

// tempFiles lists the atomic-write temporary files (".<name>.tmp-<digits>")
// under root.
func tempFiles(root string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestRedemptionsSurviveKill9: 16 redemptions running concurrently in 8
// namespaces of a daemon killed -9 at random points, again and again:
// after a restart every redemption the grant server counted ends as a Link
// (none is lost with its grant used up), and no temporary file remains
// anywhere under the data home.
func TestRedemptionsSurviveKill9(t *testing.T) {
	const namespacesN, perNS, kills = 8, 2, 6
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	// The granting site, in its own data home, runs throughout.
	server := newEnv(t)
	startLinkingDaemon(t, server, freePort(t))
	server.ok("-n", "west", "site", "create", "west", "--enable-link-access", "--wait", "configured")
	west := namespaces.NewHome(server.home).Namespace("west")

	// The redeeming sites: every token is in input before the daemon runs.
	client := newEnv(t)
	home := namespaces.NewHome(client.home)
	type tok struct{ ns, name, uid string }
	var toks []tok
	for i := range namespacesN {
		ns := fmt.Sprintf("east%d", i)
		client.ok("-n", ns, "site", "create", ns)
		for j := range perNS {
			file := filepath.Join(home.Namespace(ns).InputResourcesDir(), fmt.Sprintf("token-%d.yaml", j))
			server.ok("-n", "west", "token", "issue", file)
			g := readObj[*v2alpha1.AccessGrant](t, west, v2alpha1.KindAccessGrant, grantOfToken(t, file))
			toks = append(toks, tok{ns: ns, name: grantOfToken(t, file), uid: g.Status.URL[strings.LastIndex(g.Status.URL, "/")+1:]})
		}
	}
	store := grantserver.FileStore{Home: namespaces.NewHome(server.home)}
	counted := func() int {
		n := 0
		for _, tk := range toks {
			c, _ := store.Count(grantserver.Grant{Namespace: "west", UID: tk.uid})
			n += c
		}
		return n
	}

	addr := freePort(t)
	for k := range kills {
		cmd := exec.Command(bins.skupperd, "run", "--supervisor", "none", "--grant-server-addr", addr, "--advertise-host", "127.0.0.1")
		cmd.Env = client.vars
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		// Fault injection, not synchronisation: the kill lands at a
		// random point of start-up and of the redemptions.
		time.Sleep(time.Duration(20+rng.IntN(400)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		t.Logf("kill %d: %d redemptions counted by the server", k, counted())
	}
	d := startLinkingDaemon(t, client, addr)
	testwait.For(t, 60*time.Second, "every token redeemed into a Link", func() (bool, string) {
		for _, tk := range toks {
			ns := home.Namespace(tk.ns)
			st, err := ns.ReadStatus(v2alpha1.Key{Kind: v2alpha1.KindAccessToken, Name: tk.name})
			if err != nil {
				return false, err.Error()
			}
			if !st.(*v2alpha1.AccessToken).Status.Redeemed {
				return false, fmt.Sprintf("%s/%s: %s", tk.ns, tk.name, st.(*v2alpha1.AccessToken).Status.Message)
			}
			if _, err := ns.ReadStatus(v2alpha1.Key{Kind: v2alpha1.KindLink, Name: tk.name}); err != nil {
				return false, err.Error()
			}
		}
		return true, ""
	})
	for _, tk := range toks {
		c, err := store.Count(grantserver.Grant{Namespace: "west", UID: tk.uid})
		require.NoError(t, err)
		require.Equal(t, 1, c, "grant %s", tk.name)
		_, err = os.Stat(filepath.Join(home.Namespace(tk.ns).InputResourcesDir(), "Link-"+tk.name+".yaml"))
		require.NoError(t, err)
	}
	// Stopped, the daemon has no write in progress: whatever temporary
	// file remains was left by a kill and not swept.
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	<-d.exited
	require.Empty(t, tempFiles(client.home), "temporary files left under the data home")
}
