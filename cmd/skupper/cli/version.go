package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skupperd/skupperd/internal/version"
)

// RouterBinary is the router executable looked up on PATH, unless
// SKUPPER_ROUTER_BINARY (which skupperd reads too) names another.
const RouterBinary = "skrouterd"

// EnvRouterBinary overrides the router executable, as for skupperd.
const EnvRouterBinary = "SKUPPER_ROUTER_BINARY"

// componentVersion is one row of "skupper version".
type componentVersion struct {
	Version string `json:"version"`
}

// versions is the output of "skupper version -o yaml|json", shaped as in
// the Skupper reference.
type versions struct {
	Components struct {
		CLI        componentVersion `json:"cli"`
		Controller componentVersion `json:"controller"`
		Router     componentVersion `json:"router"`
	} `json:"components"`
}

// lookPath finds an executable on the PATH of the CLI's environment.
func (a *app) lookPath(name string) (string, bool) {
	for _, dir := range filepath.SplitList(a.env("PATH")) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// routerPath finds the router executable: $SKUPPER_ROUTER_BINARY (a name
// on PATH or a path), else skrouterd on PATH.
func (a *app) routerPath() (string, bool) {
	name := a.env(EnvRouterBinary)
	if name == "" {
		name = RouterBinary
	}
	if strings.Contains(name, "/") {
		fi, err := os.Stat(name)
		return name, err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
	}
	return a.lookPath(name)
}

// runTool runs a program with a bounded time and returns its combined
// output.
func runTool(timeout time.Duration, path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}

// firstLine returns the first non-empty line of s, trimmed.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// routerVersion runs "skrouterd --version".
func (a *app) routerVersion() string {
	path, ok := a.routerPath()
	if !ok {
		return "not installed"
	}
	out, err := runTool(5*time.Second, path, "--version")
	if v := firstLine(out); err == nil && v != "" {
		return v
	}
	return "unknown (" + path + " --version failed)"
}

// daemonVersion asks the running daemon's executable for its version.
func (a *app) daemonVersion() string {
	home, err := a.home()
	if err != nil {
		return "unknown"
	}
	running, pid := home.DaemonRunning()
	if !running {
		return "not running"
	}
	// Only a skupperd executable is asked: the lock holder could be
	// anything that embeds the daemon (a test binary, for one).
	exe, err := os.Readlink(filepath.Join(a.procRoot, strconv.Itoa(pid), "exe"))
	if err == nil && strings.HasPrefix(filepath.Base(exe), "skupperd") && !strings.HasSuffix(exe, " (deleted)") {
		// "skupperd <version> (<go version>, <os/arch>)"
		if out, err := runTool(5*time.Second, exe, "version"); err == nil {
			if f := strings.Fields(firstLine(out)); len(f) >= 2 && f[0] == "skupperd" {
				return f[1]
			}
		}
	}
	return "unknown (skupperd pid " + strconv.Itoa(pid) + ")"
}

// gatherVersions collects the versions of the CLI, daemon and router.
func (a *app) gatherVersions() versions {
	var v versions
	v.Components.CLI.Version = version.String()
	v.Components.Controller.Version = a.daemonVersion()
	v.Components.Router.Version = a.routerVersion()
	return v
}

// newVersionCommand builds "skupper version".
func (a *app) newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Display versions of Skupper components",
		Long: `Display the versions of this CLI, of the running skupperd (the controller)
and of the router (skrouterd on PATH, or $SKUPPER_ROUTER_BINARY).`,
		Example: `  # Show component versions
  skupper version

  # Show version details in YAML format
  skupper version --output yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, true); err != nil {
				return err
			}
			v := a.gatherVersions()
			if output != "" {
				return a.printEncoded(output, []any{v}, true)
			}
			t := newTable(a.stdout, "COMPONENT", "VERSION")
			t.row("cli", v.Components.CLI.Version)
			t.row("controller", v.Components.Controller.Version)
			t.row("router", v.Components.Router.Version)
			return failed(t.flush())
		},
	}
	outputFlag(cmd, &output, "", "produce structured output: json or yaml")
	return cmd
}
