package v2alpha1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeValidate feeds arbitrary bytes through Decode and Validate, as
// YAML and as JSON. They must never panic — including panics that Decode's
// own recover would turn into an "internal error" diagnostic — and every
// diagnostic must render.
func FuzzDecodeValidate(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil && len(data) < 64<<10 {
			f.Add(data, strings.HasSuffix(file, ".json"))
		}
	}
	f.Add([]byte("a: &a [*a]"), false)
	f.Add([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name := "fuzz.yaml"
		if asJSON {
			name = "fuzz.json"
		}
		docs, diags := Decode(name, data)
		for _, d := range diags {
			if strings.Contains(d.Message, "internal error") {
				t.Fatalf("decoder panicked: %s", d.Message)
			}
			_ = d.Error()
		}
		all := Validate("default", docs)
		all = append(all, CheckSitePresent("default", docs)...)
		for _, d := range all.Sort() {
			_ = d.Error()
		}
		for _, d := range docs {
			SetDefaults(d.Object, nil)
			if _, err := Marshal(d.Object); err != nil {
				t.Fatalf("marshal: %v", err)
			}
		}
	})
}
