package v2alpha1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// slowParse is what go-yaml v3 gives for a chunk: the root of every
// document that decodeChunk decodes (not empty, not a null).
func slowParse(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*yaml.Node
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(root.Content) > 0 && !(root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null") {
			out = append(out, root.Content[0])
		}
	}
}

// sameTree compares what the decoder reads of two trees.
func sameTree(a, b *yaml.Node) string {
	if a.Kind != b.Kind || a.Tag != b.Tag || a.Value != b.Value || a.Line != b.Line || a.Column != b.Column || a.Style&^yaml.FlowStyle != b.Style&^yaml.FlowStyle {
		return fmt.Sprintf("node %+v != %+v", *a, *b)
	}
	if len(a.Content) != len(b.Content) {
		return fmt.Sprintf("node at %d:%d has %d children, want %d", a.Line, a.Column, len(a.Content), len(b.Content))
	}
	for i := range a.Content {
		if d := sameTree(a.Content[i], b.Content[i]); d != "" {
			return d
		}
	}
	return ""
}

// checkFastParse fails when the fast parser accepts data and builds other
// trees than go-yaml.
func checkFastParse(t *testing.T, data []byte) bool {
	t.Helper()
	slab := new(nodeSlab)
	fast, ok := fastParseInto(slab, data)
	if !ok {
		return false
	}
	if n := countNodes(fast); n != len(slab.nodes) {
		t.Fatalf("%d nodes, %d of them from the slab (lineNodes counts wrong):\n%s", n, len(slab.nodes), data)
	}
	slow, err := slowParse(data)
	if err != nil {
		t.Fatalf("fast parser accepted what go-yaml refuses (%v):\n%s", err, data)
	}
	if len(fast) != len(slow) {
		t.Fatalf("fast parser found %d documents, go-yaml %d:\n%s", len(fast), len(slow), data)
	}
	for i := range fast {
		if d := sameTree(fast[i], slow[i]); d != "" {
			t.Fatalf("document %d: %s\n%s", i, d, data)
		}
	}
	return true
}

// countNodes counts the nodes of trees.
func countNodes(trees []*yaml.Node) int {
	n := 0
	for _, t := range trees {
		n += 1 + countNodes(t.Content)
	}
	return n
}

// TestFastParse checks the fast parser against go-yaml on every test data
// file and on variants of resource files, and that it declines what is
// outside its subset.
func TestFastParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test data: %v", err)
	}
	accepted := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if checkFastParse(t, data) {
			accepted++
		}
	}
	t.Logf("fast parser took %d of %d test data files", accepted, len(files))
	if accepted == 0 {
		t.Error("the fast parser took no test data file")
	}
	for _, s := range fastParseSamples {
		checkFastParse(t, []byte(s))
	}
	// Past scanKeys keys a mapping's duplicates are found with a set.
	var many strings.Builder
	for i := range 3 * scanKeys {
		fmt.Fprintf(&many, "k%d: %d\n", i, i)
	}
	if !checkFastParse(t, []byte("labels:\n"+strings.ReplaceAll(many.String(), "k", "  k"))) {
		t.Errorf("fast parser declined a mapping of %d keys", 3*scanKeys)
	}
	for _, dup := range []int{0, scanKeys - 1, scanKeys, 3*scanKeys - 1} {
		if _, ok := fastParse([]byte(many.String() + fmt.Sprintf("k%d: again\n", dup))); ok {
			t.Errorf("fast parser accepted a duplicate of key %d of %d", dup, 3*scanKeys)
		}
	}
	for _, s := range []string{
		"a: [1, 2]\n", "a: {b: c}\n", "a: |\n  x\n", "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: \"x\\ty\"\n", "a: b # c\n",
		"a: b\n  c\n", "a:\nb: 1\n", "a:\tb\n", "- a\n", "just text\n", "a: 'it''s'\n", "\"a\": b\n", "a: b\r\n", "a: é\n", "a:b\n",
		"a: 1\na: 2\n", "<<: x\n", "--- a: b\n", "%YAML 1.2\n---\na: b\n", "a: .5\n", "? a\n: b\n", "a:\n  -\n    b: c\n",
		// go-yaml refuses a simple key longer than 1,024 characters (found
		// by FuzzFastParse).
		"0" + strings.Repeat("a", 1100) + ": 7\n",
	} {
		if _, ok := fastParse([]byte(s)); ok {
			t.Errorf("fast parser accepted %q", s)
		}
	}
}

var fastParseSamples = []string{
	"apiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l5\nspec:\n  routingKey: k5\n  host: 127.0.0.1\n  port: 10005\n",
	"---\n# comment\napiVersion: v\nkind: Site\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: 'quoted value'\n    b: \"double\"\n---\n\n---\nkind: Link\nspec:\n  endpoints:\n  - name: inter-router\n    host: 10.0.0.1\n    port: \"55671\"\n  -   name: edge\n      port: 45671\n",
	"a:\n    - 1\n    - -2\n    - +3\n    - 0x1F\n    - 1e3\n    - 1.5\n    - true\n    - False\n    - null\n    - ~\n    - yes\n    - 2026-12-01T17:35:19Z\n    - 2026-1-2\n    - 007\n    - 1_000\n    - 0b11\n    - -0b11\n    - 0o17\n    - 0B1\n    - -x\n    - 127.0.0.1\n    - 1.2.3\n",
	"a: b   \nc:   d\ne:\n- f\n- g: h\n  i: j\n- k\n",
	"key: value with: no space colon:x and 'quotes' and \"dq\"\n",
	"a:\n  b:\n    c:\n      d: e\n  f: g\nh: i\n",
	"# only a comment\n",
	"",
	"---\n---\n",
}

// FuzzFastParse: whatever the fast parser accepts, go-yaml reads the same.
func FuzzFastParse(f *testing.F) {
	for _, s := range fastParseSamples {
		f.Add(s)
	}
	f.Add("a:\n- b: c\n  d:\n  - e\n")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Count(s, "\n") > 200 {
			return
		}
		checkFastParse(t, []byte(s))
	})
}
