package ports

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/skupperd/skupperd/namespaces"
)

// BenchmarkAssignFixed measures one Assign of a namespace with n fixed
// (Listener) ports beside another namespace with as many, as a reconcile
// of a large site does on every pass. Each port is checked against the
// others by port, so ten times the ports should cost about ten times as
// much, not a hundred.
func BenchmarkAssignFixed(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("ports=%d", n), func(b *testing.B) {
			home := namespaces.NewHome(b.TempDir())
			if err := home.Ensure(); err != nil {
				b.Fatal(err)
			}
			for _, ns := range []string{"east", "west"} {
				if err := os.MkdirAll(home.Namespace(ns).Dir, 0o700); err != nil {
					b.Fatal(err)
				}
			}
			claims := func(base int) []Claim {
				cs := []Claim{{Key: "router/normal", Role: RoleNormal, Host: "127.0.0.1"}}
				for i := range n {
					cs = append(cs, Claim{Key: fmt.Sprintf("listener/l%d", i), Port: base + i, Host: "127.0.0.1", What: fmt.Sprintf("Listener/l%d", i)})
				}
				return cs
			}
			a := New(home, WithProbe(func(string, int) bool { return true }))
			if _, err := a.Assign(context.Background(), "east", claims(20000)); err != nil {
				b.Fatal(err)
			}
			west := claims(40000)
			for b.Loop() {
				if _, err := a.Assign(context.Background(), "west", west); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
