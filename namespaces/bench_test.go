package namespaces

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pairYAML renders Listener + Connector i.
func pairYAML(i int) string {
	return fmt.Sprintf(`apiVersion: skupper.io/v2alpha1
kind: Listener
metadata:
  name: l%d
spec:
  routingKey: svc%d
  host: 0.0.0.0
  port: %d
---
apiVersion: skupper.io/v2alpha1
kind: Connector
metadata:
  name: c%d
spec:
  routingKey: svc%d
  host: localhost
  port: 8080
`, i, i, 10000+i, i, i)
}

// setupPairs writes a site and n Listener+Connector pairs, in one file or
// in one file per resource.
func setupPairs(b testing.TB, n int, oneFile bool) Namespace {
	ns := NewHome(b.TempDir()).Namespace("default")
	if err := ns.EnsureInput(); err != nil {
		b.Fatal(err)
	}
	dir := ns.InputResourcesDir()
	writeF := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	writeF("Site-west.yaml", siteYAML)
	if oneFile {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				sb.WriteString("---\n")
			}
			sb.WriteString(pairYAML(i))
		}
		writeF("pairs.yaml", sb.String())
		return ns
	}
	for i := 0; i < n; i++ {
		l, c, _ := strings.Cut(pairYAML(i), "---\n")
		writeF(fmt.Sprintf("Listener-l%d.yaml", i), l)
		writeF(fmt.Sprintf("Connector-c%d.yaml", i), c)
	}
	return ns
}

// BenchmarkLoad measures Load (read + decode + validate) of a namespace of
// n Listener+Connector pairs, in one file and in one file per resource.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		for _, oneFile := range []bool{true, false} {
			layout := "file-per-resource"
			if oneFile {
				layout = "one-file"
			}
			b.Run(fmt.Sprintf("pairs=%d/%s", n, layout), func(b *testing.B) {
				ns := setupPairs(b, n, oneFile)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					snap, err := Load(ns)
					if err != nil {
						b.Fatal(err)
					}
					if got := len(snap.Valid()); got != 2*n+1 {
						b.Fatalf("valid = %d, want %d: %v", got, 2*n+1, snap.Diagnostics.Err())
					}
				}
			})
		}
	}
}
