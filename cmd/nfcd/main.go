// Command nfcd is the NFC daemon for NTAG 424 DNA tags: it reads tags over
// PC/SC, verifies their SUN messages and serves the verdicts to local UIs.
//
// This package only parses the command line and wires packages together;
// cli.go says how every command behaves.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// root lists every command.
var root = &command{
	name:     "",
	synopsis: "nfcd COMMAND [flags]",
	about:    "nfcd — NFC daemon for NTAG 424 DNA tags: reads tags over PC/SC, verifies their\nSUN messages and serves signed verdicts to local UIs.",
	example:  "nfcd run --simulate    # the daemon with a simulated reader; open the printed URL",
}

func init() {
	root.subs = []*command{
		runCmd, verifyCmd, readersCmd, watchCmd, vtagCmd, tagCmd, tokenCmd, keyCmd, historyCmd, legitmarkCmd, fakeCmd, serviceCmd, versionCmd,
		remoteCmd, outboxCmd, fleetCmd, configCmd, doctorCmd,
	}
}

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr), os.Stderr))
}

// exitCode prints err when the command has not said it already, and maps
// it to the exit status: 0 ok (also after --help), 1 failed or negative,
// 2 usage.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errInvalid):
		return 1
	}
	fmt.Fprintln(stderr, "nfcd:", err)
	return 1
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) > 0 {
		switch args[0] {
		case "--version", "-version":
			args = []string{"version"}
		}
	}
	return root.exec(e, args)
}
