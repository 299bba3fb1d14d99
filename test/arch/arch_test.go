// Package arch holds the test that keeps the package map honest: the
// one-way dependency rule of docs/architecture.md, the thin CLI, and test
// support staying out of the product.
package arch

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/skupperd/skupperd/"

// layers is the rule of docs/architecture.md: a product package may import
// only packages of a lower layer (never one of its own layer or above).
// Every product package must be listed, so that a new package is placed
// on purpose.
var layers = [][]string{
	{"internal/rawfs"},
	{"api/v2alpha1", "internal/atomicfile", "internal/fsstamp", "internal/gcroom", "internal/hostinfo", "internal/hugeheap", "internal/logfile", "internal/parallel", "internal/tick", "internal/version"},
	{"namespaces", "certs", "render", "grantclient", "router/amqpconn"},
	{"ports", "router", "router/hotapply", "router/mgmt", "router/vanflow"},
	{"grantserver"},
	{"reconcile", "systemd", "grants"},
	{"daemon"},
	{"cmd/skupper/cli"},
	{"cmd/skupperd", "cmd/skupper"},
}

// cliForbidden are what the thin CLI must never link, directly or not.
var cliForbidden = []string{
	module + "daemon", module + "reconcile", module + "grantserver", module + "grants",
	"github.com/fsnotify/fsnotify",
}

// renderAllowed: render is a pure function of its input.
func renderAllowed(imp string) bool {
	return imp == module+"api/v2alpha1" || imp == module+"internal/parallel" || !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".")
}

// goList runs `go list` with a format and returns one line per package.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// imports maps each package of the module to its (non-test) imports.
func imports(t *testing.T) map[string][]string {
	out := map[string][]string{}
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...") {
		f := strings.Fields(line)
		out[strings.TrimPrefix(f[0], module)] = f[1:]
	}
	return out
}

func isTestSupport(pkg string) bool { return pkg == "test" || strings.HasPrefix(pkg, "test/") }

func TestDependenciesPointOneWay(t *testing.T) {
	layerOf := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			layerOf[p] = i
		}
	}
	var problems []string
	for pkg, imps := range imports(t) {
		if isTestSupport(pkg) || pkg == "packaging" {
			continue
		}
		from, ok := layerOf[pkg]
		if !ok {
			problems = append(problems, pkg+": not placed in a layer (add it to docs/architecture.md and this test)")
			continue
		}
		for _, imp := range imps {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if isTestSupport(dep) {
				problems = append(problems, pkg+" imports test support "+dep)
				continue
			}
			if to, ok := layerOf[dep]; ok && to >= from {
				problems = append(problems, pkg+" imports "+dep+", which is not below it")
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

func TestRenderIsPure(t *testing.T) {
	for _, imp := range imports(t)["render"] {
		if !renderAllowed(imp) {
			t.Errorf("render imports %s; it may import only api, internal/parallel and the standard library", imp)
		}
	}
}

func TestCLIStaysThin(t *testing.T) {
	deps := map[string]bool{}
	for _, d := range goList(t, "-deps", "./cmd/skupper") {
		deps[d] = true
	}
	for _, f := range cliForbidden {
		if deps[f] {
			t.Errorf("go list -deps ./cmd/skupper contains %s: the CLI must reach the daemon through namespaces' files only", f)
		}
	}
}

func TestProductDoesNotLinkTestSupport(t *testing.T) {
	for _, main := range []string{"./cmd/skupperd", "./cmd/skupper"} {
		for _, d := range goList(t, "-deps", main) {
			if p := strings.TrimPrefix(d, module); p != d && isTestSupport(p) {
				t.Errorf("%s links test support %s", main, d)
			}
		}
	}
}
