package cli

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/skupperd/skupperd/internal/logfile"
	"github.com/skupperd/skupperd/namespaces"
)

// dumpLogBytes is how much of the end of each log a dump keeps.
const dumpLogBytes = 512 << 10

// journalLines is how many journal lines a dump keeps per unit.
const journalLines = "2000"

// addLogs records the recent logs of the daemon and of the namespace's
// router: skupperd's own log file (which also holds the routers' output
// under the process supervisor), the lines of it about this namespace,
// and the systemd journal of skupperd's and the router's units when
// journalctl is installed.
func (a *app) addLogs(d *dumpWriter, ns namespaces.Namespace) {
	data, err := logfile.Tail(ns.Home.DaemonLogPath(), dumpLogBytes)
	switch {
	case err != nil:
		d.add("logs/skupperd.log.error.txt", []byte(err.Error()+"\n"))
	case len(data) == 0:
		d.add("logs/README.txt", []byte(fmt.Sprintf("No skupperd log file (%s): skupperd has not run with this data home since it started keeping one.\n", ns.Home.DaemonLogPath())))
	default:
		d.add("logs/skupperd.log", data)
		d.add("logs/namespace-"+ns.Name+".log", namespaceLines(data, ns.Name))
	}
	jc, ok := a.lookPath("journalctl")
	if !ok {
		return
	}
	scope := []string{}
	if os.Geteuid() != 0 {
		scope = append(scope, "--user")
	}
	for file, unit := range map[string]string{
		"logs/journal-skupperd.txt":                "skupperd.service",
		"logs/journal-skupper-" + ns.Name + ".txt": "skupper-" + ns.Name + ".service",
	} {
		args := append(append([]string(nil), scope...), "-u", unit, "-n", journalLines, "--no-pager", "-o", "short-iso")
		out, err := runTool(10*time.Second, jc, args...)
		if err != nil {
			out += "\n(journalctl: " + err.Error() + ")\n"
		}
		d.add(file, []byte(out))
	}
}

// namespaceLines keeps the log lines about namespace ns (text or JSON
// log format), among them its router's output.
func namespaceLines(data []byte, ns string) []byte {
	text := []byte("namespace=" + ns)
	js := []byte(`"namespace":"` + ns + `"`)
	var out []byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if hasField(line, text) || bytes.Contains(line, js) {
			out = append(out, line...)
		}
	}
	return out
}

// hasField reports whether a text log line holds field (key=value) as a
// whole value, not as a prefix of a longer one.
func hasField(line, field []byte) bool {
	for i := bytes.Index(line, field); i >= 0; {
		end := i + len(field)
		if (i == 0 || line[i-1] == ' ') && (end == len(line) || line[end] == ' ' || line[end] == '\n') {
			return true
		}
		next := bytes.Index(line[end:], field)
		if next < 0 {
			return false
		}
		i = end + next
	}
	return false
}
