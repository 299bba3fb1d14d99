package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
)

// TestKindTableMatchesKindsYAML checks that kinds.yaml and kindTable
// describe the same kinds and commands, and that every option of a kind's
// commands has help.
func TestKindTableMatchesKindsYAML(t *testing.T) {
	a := &app{}
	known := map[string]bool{"create": true, "update": true, "delete": true, "status": true, "generate": true}
	seen := map[string]bool{}
	for _, k := range kindTable() {
		docs, ok := allKindDocs[k.name()]
		if !assert.True(t, ok, "kinds.yaml has no %s", k.name()) {
			continue
		}
		seen[k.name()] = true
		for verb := range docs.Commands {
			assert.True(t, known[verb], "kinds.yaml: %s %s is not a command the builder makes", k.name(), verb)
		}
		group := a.newKindCommand(k)
		assert.NotEmpty(t, group.Short, k.name())
		for _, c := range group.Commands() {
			c.Flags().VisitAll(func(f *pflag.Flag) {
				assert.NotEmpty(t, f.Usage, "%s: --%s has no help", c.CommandPath(), f.Name)
			})
		}
		if docs.Header == nil {
			assert.NotNil(t, k.fields, k.name())
		} else {
			assert.NotNil(t, k.row, k.name())
		}
	}
	for name := range allKindDocs {
		assert.True(t, seen[name], "kinds.yaml describes %s, which kindTable lacks", name)
	}
}

// TestUpdateNeedsOwnOptions checks the options an update asks for when
// given none: the kind's own, in the order they are registered.
func TestUpdateNeedsOwnOptions(t *testing.T) {
	cmd := &cobra.Command{}
	own := registerOwn(cmd, func(c *cobra.Command) {
		c.Flags().Bool("b", false, "b")
		c.Flags().Bool("a", false, "a")
	})
	assert.Equal(t, []string{"--b", "--a"}, own)
	assert.NotNil(t, cmd.Flags().Lookup("a"))
}

// TestUpdateWithoutOptions checks the "nothing to update" message of every
// kind: it lists the kind's own options in their documented order.
func TestUpdateWithoutOptions(t *testing.T) {
	c := newCLI(t)
	c.ok("site", "create", "west")
	c.ok("listener", "create", "db", "5432")
	c.ok("connector", "create", "db", "5432")
	for _, tc := range []struct{ args, want string }{
		{"site update", "--enable-link-access, --edge"},
		{"listener update db", "--routing-key, --host, --port, --tls-credentials, --type"},
		{"connector update db", "--routing-key, --host, --port, --tls-credentials, --use-client-cert, --verify-hostname, --type"},
		{"link update x", "--cost"},
	} {
		r := c.run(strings.Fields(tc.args)...)
		assert.Equal(t, 2, r.code, tc.args)
		assert.Equal(t, "Error: nothing to update: give at least one of "+tc.want+"\n", r.stderr, tc.args)
	}
}
