// Command echo is the demo's service and client (scripts/demo.sh): a TCP
// echo server behind a site's connector, and a client that sends a line
// through a listener and prints what came back. It also picks free ports.
// It only uses loopback addresses and is not part of the product.
//
//	echo serve -addr 127.0.0.1:0 -port-file F   echo every byte back; write the port to F once listening
//	echo send -addr 127.0.0.1:P -msg TEXT       send TEXT plus a newline, print the line that comes back
//	echo free-port                              print a port that 127.0.0.1 can bind right now
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `usage:
  echo serve [-addr 127.0.0.1:0] [-port-file FILE]
  echo send -addr HOST:PORT [-msg TEXT] [-timeout 2s]
  echo free-port
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "send":
		err = send(args)
	case "free-port":
		err = freePort()
	default:
		fmt.Fprintf(os.Stderr, "echo: unknown command %q\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo: %v\n", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	portFile := fs.String("port-file", "", "file to write the listening port to")
	_ = fs.Parse(args)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		// Write then rename, so a reader never sees a partial number.
		tmp := *portFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, *portFile); err != nil {
			return err
		}
	}
	fmt.Printf("echo server listening on %s\n", l.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			n, _ := io.Copy(c, c)
			fmt.Printf("echoed %d bytes for %s\n", n, c.RemoteAddr())
		}()
	}
}

func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	addr := fs.String("addr", "", "address to send to (HOST:PORT)")
	msg := fs.String("msg", "hello", "line to send")
	timeout := fs.Duration("timeout", 2*time.Second, "bound on the whole exchange")
	_ = fs.Parse(args)
	if *addr == "" {
		return errors.New("send: -addr is required")
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", *addr, *timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(*timeout))
	if _, err := fmt.Fprintf(c, "%s\n", *msg); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s closed the connection without answering", *addr)
		}
		return fmt.Errorf("no answer from %s: %w", *addr, err)
	}
	got := strings.TrimSuffix(line, "\n")
	if got != *msg {
		return fmt.Errorf("sent %q, got back %q", *msg, got)
	}
	// The script prints the round trip; keep this line machine-readable.
	fmt.Printf("%s %d\n", got, time.Since(start).Milliseconds())
	return nil
}

func freePort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return err
	}
	fmt.Println(port)
	return nil
}
