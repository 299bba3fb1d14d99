package daemon_test

// Bad input never crashes the daemon: every api/v2alpha1/testdata/*.bad.*
// file is fed into a live namespace, all at once and then one at a time,
// and its diagnostic must show up in the namespace summary.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const badDir = "../api/v2alpha1/testdata"

// badCase is an entry of the badCases table of api/v2alpha1/bad_test.go:
// the diagnostic a bad file must produce (as the input of namespace
// "default").
type badCase struct {
	file    string
	line    int
	want    string
	warning bool
}

var badCaseRE = regexp.MustCompile(`\{file: "([^"]+)", line: (\d+), want: ("(?:[^"\\]|\\.)*"), warning: (true|false)\}`)

// loadBadCases reads the expectations from the api package's own table,
// so that the two stay in step, and checks that every bad file has one.
func loadBadCases(t *testing.T) []badCase {
	t.Helper()
	src, err := os.ReadFile("../api/v2alpha1/bad_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var cases []badCase
	listed := map[string]bool{}
	for _, m := range badCaseRE.FindAllStringSubmatch(string(src), -1) {
		line, _ := strconv.Atoi(m[2])
		want, err := strconv.Unquote(m[3])
		if err != nil {
			t.Fatalf("badCases entry %s: %v", m[0], err)
		}
		cases = append(cases, badCase{file: m[1], line: line, want: want, warning: m[4] == "true"})
		listed[m[1]] = true
	}
	files, err := filepath.Glob(filepath.Join(badDir, "*.bad.*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Fatalf("%s has no entry in the badCases table (or the table's format changed)", f)
		}
	}
	if len(cases) < 60 || len(cases) != len(files) {
		t.Fatalf("%d badCases entries for %d files", len(cases), len(files))
	}
	return cases
}

func TestBadInputNeverCrashes(t *testing.T) {
	cases := loadBadCases(t)
	h := newTestHome(t)
	// "default": the namespace the table's expectations are computed for.
	ns := h.addNamespace("default")
	p := freePorts(t, 2)
	// The good Site sorts after every bad file, so that a bad file's own
	// Site is the first one found, as in the api package's test.
	const goodSite = "zz-good-site.yaml"
	h.put("default", goodSite, siteYAML("good"))
	h.put("default", "good-listener.yaml", listenerYAML("good-listener", "good", p[0]))
	d := startDaemon(t, h, daemonOpts{supervisor: "none"})
	d.waitReady()
	waitListener(t, ns, "good-listener", p[0])

	copyBad := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(badDir, name))
		if err != nil {
			t.Fatal(err)
		}
		h.put("default", name, string(data))
		return filepath.Join(ns.InputResourcesDir(), name)
	}
	mentions := func(list []string, path string) bool {
		for _, s := range list {
			if strings.HasPrefix(s, path+":") {
				return true
			}
		}
		return false
	}

	// All at once, as separate files: one load sees every kind of problem
	// together, and the files interact (duplicate names across files,
	// several Sites, port clashes), which single files cannot reproduce.
	for _, c := range cases {
		copyBad(c.file)
	}
	eventually(t, "every bad file reported", func() (bool, string) {
		if !d.alive() {
			t.Fatalf("daemon exited: %v", d.waitErr)
		}
		s, err := readSummary(ns)
		if err != nil {
			return false, err.Error()
		}
		var missing []string
		for _, c := range cases {
			path := filepath.Join(ns.InputResourcesDir(), c.file)
			if !mentions(s.Errors, path) && !mentions(s.Warnings, path) {
				missing = append(missing, c.file)
			}
		}
		return len(missing) == 0, fmt.Sprintf("not reported yet: %v", missing)
	})
	for _, c := range cases {
		h.remove("default", c.file)
	}
	waitSummary(t, ns, "a clean summary", func(e, _ string) bool { return e == "" })

	// One at a time: each file's own diagnostic, at its line, appears in
	// the summary; the previous file's are gone.
	// A bad file with a Site of its own is checked without the good Site
	// (two Sites are an error that hides the Site's own problems).
	declaresSite := regexp.MustCompile(`(?m)^\s*"?kind"?\s*:\s*"?Site"?\s*,?\s*$`)
	prev := ""
	goodSiteIn := true
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join(badDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		ownSite := declaresSite.Match(data)
		path := copyBad(c.file)
		if prev != "" {
			h.remove("default", prev)
		}
		switch {
		case ownSite && goodSiteIn:
			h.remove("default", goodSite)
		case !ownSite && !goodSiteIn:
			h.put("default", goodSite, siteYAML("good"))
		}
		goodSiteIn = !ownSite
		prevPath := filepath.Join(ns.InputResourcesDir(), prev)
		eventually(t, c.file+": its diagnostic in the summary", func() (bool, string) {
			if !d.alive() {
				t.Fatalf("daemon exited on %s: %v", c.file, d.waitErr)
			}
			s, err := readSummary(ns)
			if err != nil {
				return false, err.Error()
			}
			list := s.Errors
			if c.warning {
				list = s.Warnings
			}
			if prev != "" && (mentions(s.Errors, prevPath) || mentions(s.Warnings, prevPath)) {
				return false, "the previous file is still reported"
			}
			prefix := fmt.Sprintf("%s:%d: ", path, c.line)
			for _, d := range list {
				if strings.HasPrefix(d, prefix) && strings.Contains(d, c.want) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("want %q at %s (warning=%v); errors:\n%s\nwarnings:\n%s", c.want, prefix, c.warning,
				strings.Join(s.Errors, "\n"), strings.Join(s.Warnings, "\n"))
		})
		prev = c.file
	}
	h.remove("default", prev)
	if !goodSiteIn {
		h.put("default", goodSite, siteYAML("good"))
	}

	// Still up, and still converging good input.
	h.put("default", "good-listener.yaml", listenerYAML("good-listener", "good", p[1]))
	waitListener(t, ns, "good-listener", p[1])
	waitSummary(t, ns, "a clean summary", func(e, _ string) bool { return e == "" })
	if !d.alive() {
		t.Fatal("daemon exited")
	}
	if n := len(d.logLines("reconcile failed; the last good configuration stays in place", "default")); n > 0 {
		t.Errorf("%d reconciles failed on bad input (input problems must be diagnostics, not failures)", n)
	}
}
