package render

import (
	"fmt"
	"testing"

	"github.com/skupperd/skupperd/api/v2alpha1"
)

// BenchmarkRouterConfig renders a site of 1,000 Listener+Connector pairs,
// as every reconcile of such a namespace does.
func BenchmarkRouterConfig(b *testing.B) {
	in := Input{
		Namespace: "west", SiteID: "00000000-0000-4000-8000-000000000000", Version: "1.2.3",
		Site:     &v2alpha1.Site{ObjectMeta: v2alpha1.ObjectMeta{Name: "west"}},
		Ports:    Ports{Local: 5671},
		CertsDir: "/var/lib/skupper/namespaces/west/runtime/certs",
	}
	for i := range 1000 {
		l := &v2alpha1.Listener{ObjectMeta: v2alpha1.ObjectMeta{Name: fmt.Sprintf("l%d", i)},
			Spec: v2alpha1.ListenerSpec{RoutingKey: fmt.Sprintf("k%d", i), Host: "0.0.0.0", Port: 10000 + i}}
		c := &v2alpha1.Connector{ObjectMeta: v2alpha1.ObjectMeta{Name: fmt.Sprintf("c%d", i)},
			Spec: v2alpha1.ConnectorSpec{RoutingKey: fmt.Sprintf("k%d", i), Host: "127.0.0.1", Port: 8080}}
		in.Listeners, in.Connectors = append(in.Listeners, l), append(in.Connectors, c)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RouterConfig(in); err != nil {
			b.Fatal(err)
		}
	}
}
