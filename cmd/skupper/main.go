// Command skupper is the CLI for the Skupper sites that skupperd runs on
// this Linux host: it writes resources to a namespace's input, reads the
// status skupperd writes, and asks skupperd to reload. See package
// cmd/skupper/cli for the commands.
//
// Exit codes: 0 success, 1 failure, 2 invalid input.
package main

import (
	"os"

	"github.com/skupperd/skupperd/cmd/skupper/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
