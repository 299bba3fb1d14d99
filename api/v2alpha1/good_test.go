package v2alpha1

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// namespaceOf returns the namespace the documents declare, or "default".
func namespaceOf(docs []*Document) string {
	for _, d := range docs {
		if ns := d.Object.GetObjectMeta().Namespace; ns != "" {
			return ns
		}
	}
	return "default"
}

// TestGoodFiles decodes and validates every testdata/*.good.yaml (the
// examples of the Skupper reference and upstream outputs among them): each
// must be free of errors.
func TestGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			docs, diags := Decode(f, data)
			require.Empty(t, diags.Errors(), "decode: %v", diags)
			require.NotEmpty(t, docs)
			all := Validate(namespaceOf(docs), docs)
			require.Empty(t, all.Errors(), "validate: %v", all)
			for _, d := range docs {
				require.True(t, d.Valid(), d.Diags)
			}
		})
	}
}
