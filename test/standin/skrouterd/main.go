// Command skrouterd is a stand-in for skupper-router's skrouterd, used by
// tests on machines where the real router cannot be installed.
//
// Usage:
//
//	skrouterd -c <config.json>    (also -c<file>, --config <file>, --config=<file>)
//	skrouterd -v | --version      print "skrouterd-standin <version>" and exit 0
//	skrouterd -h | --help         print usage and exit 0
//
// Start-up follows the real router's, as far as a process without the
// router can:
//
//  1. The config file name must end in ".json": the real router reads any
//     other file as its line-based .conf format, in which a JSON config
//     fails to load. The file is read and checked with routerschema in
//     Router mode, which accepts exactly what the real router's loader
//     accepts (its coercions included). Every problem is printed to stderr
//     as "skrouterd: <file>:<line>: <problem>" and the process exits 1.
//  2. For every sslProfile, each of caCertFile and certFile that is set must
//     name a readable file holding a CERTIFICATE PEM block, and
//     privateKeyFile one holding a PRIVATE KEY, EC PRIVATE KEY or RSA
//     PRIVATE KEY block. Paths are used as written (no variable
//     expansion), relative ones against the working directory.
//  3. Every sslProfile named by a listener, connector, tcpListener or
//     tcpConnector must be defined by an sslProfile entity.
//  4. Every listener and tcpListener is bound with net.Listen on host:port
//     (an empty or missing host means all interfaces; the port may be a
//     number or a service name; a listener without a port uses "amqp", its
//     schema default, while a tcpListener must have one;
//     socketAddressFamily IPv4/IPv6 restricts the address family).
//     Connections are accepted and closed at once. connector and
//     tcpConnector entities are not dialled.
//
// A failure in steps 2-4 is printed to stderr, sockets already bound are
// released, and the process exits 1. Once everything is bound, and if
// SKROUTERD_STANDIN_STATE_DIR is set, the process atomically writes
// <dir>/<pid>.json (see stateFile) and then prints exactly one line to
// stdout: "skrouterd-standin: ready (<n> listeners)".
//
// SIGTERM or SIGINT closes the listeners, removes the state file and exits
// 0. SIGHUP is ignored. Usage errors (an unknown option, a missing -c, a
// stray argument) print the usage to stderr and exit 2.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skupperd/skupperd/internal/atomicfile"
	"github.com/skupperd/skupperd/test/routerschema"
)

// Version is the version --version reports.
const Version = "3.4.0"

// StateDirEnv names the environment variable holding the directory for
// state files.
const StateDirEnv = "SKROUTERD_STANDIN_STATE_DIR"

const usage = `Usage: skrouterd -c <config.json>
       skrouterd --version
Stand-in for skupper-router's skrouterd, for tests.

  -c, --config FILE   router configuration file (JSON; the name must end in .json)
  -v, --version       print the version and exit
  -h, --help          print this help and exit
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	configPath, exit, done := parseArgs(args, stdout, stderr)
	if done {
		return exit
	}

	// Install signal handling before anything is bound, so that a signal
	// sent as soon as the ready line appears is handled gracefully.
	signal.Ignore(syscall.SIGHUP)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	r, err := start(configPath, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "skrouterd: %v\n", err)
		return 1
	}
	defer r.close()

	if dir := os.Getenv(StateDirEnv); dir != "" {
		path, err := r.writeState(dir)
		if err != nil {
			fmt.Fprintf(stderr, "skrouterd: %v\n", err)
			return 1
		}
		defer func() {
			if err := atomicfile.Remove(path); err != nil {
				fmt.Fprintf(stderr, "skrouterd: state file: %v\n", err)
			}
		}()
	}

	fmt.Fprintf(stdout, "skrouterd-standin: ready (%d listeners)\n", len(r.listeners))
	sig := <-sigs
	fmt.Fprintf(stderr, "skrouterd: %v received, shutting down\n", sig)
	return 0
}

// parseArgs parses the command line. When done is true the program ends
// with status exit; otherwise configPath is the config file to run.
func parseArgs(args []string, stdout, stderr io.Writer) (configPath string, exit int, done bool) {
	usageError := func(format string, a ...any) (string, int, bool) {
		fmt.Fprintf(stderr, "skrouterd: "+format+"\n", a...)
		fmt.Fprint(stderr, usage)
		return "", 2, true
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "-v" || arg == "--version":
			fmt.Fprintf(stdout, "skrouterd-standin %s\n", Version)
			return "", 0, true
		case arg == "-h" || arg == "--help":
			fmt.Fprint(stdout, usage)
			return "", 0, true
		case arg == "-c" || arg == "--config":
			if i+1 >= len(args) {
				return usageError("option %s requires a file argument", arg)
			}
			i++
			configPath = args[i]
		case strings.HasPrefix(arg, "--config="):
			configPath = strings.TrimPrefix(arg, "--config=")
		case strings.HasPrefix(arg, "-c") && !strings.HasPrefix(arg, "--"):
			configPath = strings.TrimPrefix(arg, "-c")
		case arg == "--":
			if i+1 < len(args) {
				return usageError("unexpected argument %q", args[i+1])
			}
		case strings.HasPrefix(arg, "-") && arg != "-":
			return usageError("unknown option %q", arg)
		default:
			return usageError("unexpected argument %q", arg)
		}
	}
	if configPath == "" {
		return usageError("no configuration file: use -c <config.json>")
	}
	return configPath, 0, false
}

// router is a started stand-in: its config and bound listeners.
type router struct {
	configPath string // absolute
	configSum  string // hex SHA-256 of the config file
	listeners  []net.Listener
	wg         sync.WaitGroup
}

// start loads and checks the config and binds its listeners. Problems with
// the config itself are printed to stderr one per line before the returned
// error, which summarises them.
func start(configPath string, stderr io.Writer) (*router, error) {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", configPath, err)
	}
	if !strings.HasSuffix(abs, ".json") {
		return nil, fmt.Errorf("config %s: the file name must end in .json: the real router reads other files as its .conf format, which the stand-in does not support", configPath)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	schema, err := routerschema.Load()
	if err != nil {
		return nil, err
	}
	entities, problems := schema.Parse(data, routerschema.Router)
	if len(problems) > 0 {
		for _, p := range problems {
			var e *routerschema.Error
			if errors.As(p, &e) && e.Line > 0 {
				fmt.Fprintf(stderr, "skrouterd: %s:%d: %v\n", configPath, e.Line, p)
			} else {
				fmt.Fprintf(stderr, "skrouterd: %s: %v\n", configPath, p)
			}
		}
		return nil, fmt.Errorf("config %s: refusing to start: %d problem(s)", configPath, len(problems))
	}
	if err := checkSslProfiles(entities); err != nil {
		return nil, fmt.Errorf("config %s: %w", configPath, err)
	}
	sum := sha256.Sum256(data)
	r := &router{configPath: abs, configSum: hex.EncodeToString(sum[:])}
	if err := r.bind(entities); err != nil {
		r.close()
		return nil, fmt.Errorf("config %s: %w", configPath, err)
	}
	return r, nil
}

// describe names an entity for messages: `listener "name" (entity 3)`.
func describe(e routerschema.Entity) string {
	if name, ok := e.Attrs["name"].(string); ok {
		return fmt.Sprintf("%s %q (entity %d)", e.Type, name, e.Index)
	}
	return fmt.Sprintf("%s (entity %d)", e.Type, e.Index)
}

// pemTypes lists, per sslProfile file attribute, the PEM block types one of
// which the file must contain.
var pemTypes = []struct {
	attr  string
	types []string
}{
	{"caCertFile", []string{"CERTIFICATE"}},
	{"certFile", []string{"CERTIFICATE"}},
	{"privateKeyFile", []string{"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"}},
}

// checkSslProfiles checks the files of every sslProfile and that every
// sslProfile referenced is defined.
func checkSslProfiles(entities []routerschema.Entity) error {
	defined := map[string]bool{}
	for _, e := range entities {
		if e.Type != "sslProfile" {
			continue
		}
		if name, ok := e.Attrs["name"].(string); ok {
			defined[name] = true
		}
		for _, f := range pemTypes {
			path, ok := e.Attrs[f.attr].(string)
			if !ok {
				continue
			}
			if err := checkPEM(path, f.types); err != nil {
				return fmt.Errorf("%s: %s: %w", describe(e), f.attr, err)
			}
		}
	}
	for _, e := range entities {
		switch e.Type {
		case "listener", "connector", "tcpListener", "tcpConnector":
		default:
			continue
		}
		if name, ok := e.Attrs["sslProfile"].(string); ok && !defined[name] {
			return fmt.Errorf("%s: sslProfile %q is not defined", describe(e), name)
		}
	}
	return nil
}

// checkPEM checks that the file at path holds a PEM block of one of types.
func checkPEM(path string, types []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return fmt.Errorf("%s: no %s PEM block", path, strings.Join(types, " or "))
		}
		if slices.Contains(types, block.Type) {
			return nil
		}
	}
}

// bind listens on the address of every listener and tcpListener, in entity
// order, and accepts and closes connections in the background.
func (r *router) bind(entities []routerschema.Entity) error {
	for _, e := range entities {
		if e.Type != "listener" && e.Type != "tcpListener" {
			continue
		}
		host, _ := e.Attrs["host"].(string)
		port, ok := e.Attrs["port"].(string)
		if !ok {
			if e.Type != "listener" {
				return fmt.Errorf("%s: no port", describe(e))
			}
			port = "amqp" // the schema default
		}
		network := "tcp"
		switch e.Attrs["socketAddressFamily"] {
		case "IPv4":
			network = "tcp4"
		case "IPv6":
			network = "tcp6"
		}
		addr := net.JoinHostPort(host, port)
		ln, err := net.Listen(network, addr)
		if err != nil {
			return fmt.Errorf("%s: cannot listen on %s: %w", describe(e), addr, err)
		}
		r.listeners = append(r.listeners, ln)
		r.wg.Add(1)
		go r.serve(ln)
	}
	return nil
}

// serve accepts connections on ln and closes each at once, until ln is
// closed.
func (r *router) serve(ln net.Listener) {
	defer r.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. out of file descriptors): back off briefly.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		_ = conn.Close()
	}
}

// close closes every listener and waits for the accept loops to end.
func (r *router) close() {
	for _, ln := range r.listeners {
		_ = ln.Close()
	}
	r.wg.Wait()
}

// stateFile is the content of <SKROUTERD_STANDIN_STATE_DIR>/<pid>.json.
type stateFile struct {
	PID          int      `json:"pid"`
	Config       string   `json:"config"`       // absolute path of the config file
	ConfigSHA256 string   `json:"configSha256"` // hex SHA-256 of its content as loaded
	Listening    []string `json:"listening"`    // bound addresses, in entity order
	Started      string   `json:"started"`      // RFC 3339 with nanoseconds, UTC
}

// writeState atomically writes the state file into dir, creating dir if
// needed, and returns its path.
func (r *router) writeState(dir string) (string, error) {
	st := stateFile{
		PID:          os.Getpid(),
		Config:       r.configPath,
		ConfigSHA256: r.configSum,
		Listening:    []string{},
		Started:      time.Now().UTC().Format(time.RFC3339Nano),
	}
	for _, ln := range r.listeners {
		st.Listening = append(st.Listening, ln.Addr().String())
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", fmt.Errorf("state file: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("state file: %w", err)
	}
	path := filepath.Join(dir, strconv.Itoa(st.PID)+".json")
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("state file: %w", err)
	}
	return path, nil
}
