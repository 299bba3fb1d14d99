package v2alpha1

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// yamlSamples are strings that exercise every rule of the fast encoder:
// plain, single- and double-quoted, values that resolve to other types,
// indicators, and strings that take the slow path.
var yamlSamples = []string{
	"", "a", "OK", "True", "true", "yes", "y", "n", "on", "Off", "null", "~", "<<",
	"0", "1", "-1", "+1", "007", "0x1F", "0o17", "0b101", "-0b101", "1_000", "1.5", ".5", "1e3", "1.", ".inf", "-.Inf", ".nan", ".", "..", "...",
	"1:20", "190:20:30.15", "-1:2", "2026-12-01T17:35:19Z", "2026-12-01", "2026-1-2 3:4:5", "2026-13-45", "1999-", "20261", "127.0.0.1", "::1", "[::1]:8080", "10.0.0.1:80",
	"skupper.io/v2alpha1", "Not configured: the namespace has no valid Site", "a: b", "a:b", "a #b", "a#b", "#a", "a:", ":a", ": a", "?a", "? a", "-a", "- a", "-", "--", "---", "--- a", "---a", "...a",
	"'quoted'", "it's", `say "hi"`, `back\slash`, "a,b", "[a]", "{a}", "&a", "*a", "!a", "|a", ">a", "%a", "@a", "`a", "a|b", "a>b", "<a>", "a&b",
	" lead", "trail ", "in side", "two  spaces", "tab\there", "line\nbreak", "trailing\n", "é", "日本", "\x7f", "\x01",
	"file.yaml:12: Listener/x: spec.port: port 70000 is out of range; expected 1-65535",
	strings.Repeat("k", 121),
}

func fastAndSlow(t *testing.T, v any) {
	t.Helper()
	want, wantErr := yaml.Marshal(v)
	got, err := MarshalYAML(v)
	if wantErr != nil {
		if err == nil {
			t.Fatalf("MarshalYAML(%#v) = %q, want the error %v", v, got, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("MarshalYAML: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalYAML(%#v):\n%s\nwant (sigs.k8s.io/yaml):\n%s", v, got, want)
	}
}

// TestMarshalYAMLMatchesJSONToYAML checks that the fast encoder gives the
// bytes sigs.k8s.io/yaml gives, for every sample as a value and as a key,
// nested in mappings and sequences, and for every resource of the test
// data with a status.
func TestMarshalYAMLMatchesJSONToYAML(t *testing.T) {
	for _, s := range yamlSamples {
		fastAndSlow(t, map[string]any{"v": s})
		fastAndSlow(t, map[string]any{s + "k": "v", "k": []any{s, map[string]any{s + "x": s, "b": []any{}}, []any{s, []any{s}}}})
		fastAndSlow(t, map[string]any{"a": map[string]any{"b": map[string]any{s + "c": s}, "e": map[string]any{}}})
	}
	fastAndSlow(t, map[string]any{})
	fastAndSlow(t, map[string]any{"n": 12, "m": -3, "z": 0, "f": 1.5, "big": 1 << 62, "t": true, "nil": nil})
	fastAndSlow(t, map[string]any{"a10": 1, "a9": 2, "a09": 3, "A": 4, "a": 5, "_": 6, "1": 7, "10": 8, "2": 9, "a0": 10, "a00": 11, "b1c": 12, "b01c": 13})
	fastAndSlow(t, []any{"top", "level"})
	fastAndSlow(t, "scalar")

	files, err := filepath.Glob(filepath.Join("testdata", "*.good.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test data: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, _ := Decode(f, data)
		for _, d := range docs {
			if st := d.Object.GetStatus(); st != nil {
				st.StatusType, st.Message = StatusPending, "Not configured: the namespace has no valid Site"
				st.Conditions = []Condition{{Type: "Ready", Status: "False", Reason: "Pending", Message: "waiting", LastTransitionTime: "2026-12-01T17:35:19Z"}}
			}
			fastAndSlow(t, d.Object)
		}
	}
}

// FuzzMarshalYAML compares the fast encoder with sigs.k8s.io/yaml on
// arbitrary strings as keys and values.
func FuzzMarshalYAML(f *testing.F) {
	for _, s := range yamlSamples {
		f.Add(s, "k")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		fastAndSlow(t, map[string]any{"v": a, b: []any{a, map[string]any{a: b, "x": []any{b}}}, "m": map[string]any{b: map[string]any{"y": a}}})
	})
}

func BenchmarkMarshalYAML(b *testing.B) {
	l := &Listener{TypeMeta: TypeMeta{APIVersion: GroupVersion, Kind: KindListener}, ObjectMeta: ObjectMeta{Name: "l5"},
		Spec: ListenerSpec{RoutingKey: "k5", Host: "127.0.0.1", Port: 10005}}
	for _, c := range []string{"Configured", "Matched", "Ready"} {
		l.Status.Conditions = append(l.Status.Conditions, Condition{Type: c, Status: "True", Reason: c, Message: "OK", LastTransitionTime: "2026-12-01T17:35:19Z"})
	}
	l.Status.StatusType, l.Status.Message, l.Status.HasMatchingConnector = StatusReady, "OK", true
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := MarshalYAML(l); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sigs.k8s.io/yaml", func(b *testing.B) {
		for b.Loop() {
			if _, err := yaml.Marshal(l); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestMarshalYAMLRandom compares the encoders on random strings made of the
// characters that matter to YAML, long enough to wrap.
func TestMarshalYAMLRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "  aZ09:#-?'\"\\,[]{}&*!|>%@`._+~/<"
	for range 3000 {
		b := make([]byte, rng.IntN(120))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		fastAndSlow(t, map[string]any{"v": s, "nested": map[string]any{"deeper": map[string]any{"k": s}}, "list": []any{s, map[string]any{"m": s}}})
	}
}
