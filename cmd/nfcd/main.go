// Command nfcd is the NFC daemon for NTAG 424 DNA tags: it reads tags over
// PC/SC, verifies their SUN messages and serves the verdicts to local UIs.
//
// This file only parses the command line and wires packages together.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage marks a command-line mistake: the usage has been printed.
var errUsage = errors.New("usage")

// errInvalid makes nfcd exit 1 without printing more: the output already
// says which input failed.
var errInvalid = errors.New("invalid input")

const usage = `nfcd — NFC daemon for NTAG 424 DNA tags

Usage:
  nfcd run [--simulate] [flags]  run the daemon (WebSocket API and kiosk page)
  nfcd verify [flags] URL...     verify SUN URLs (see nfcd verify -h)
  nfcd verify --batch            JSON Lines on stdin → JSON Lines on stdout
  nfcd readers [--json]          list readers with state, ATR and matched quirks
  nfcd watch [--json] [flags]    print reader events and verified tag reads
  nfcd vtag [flags]              present a virtual NTAG 424 DNA to the vpcd reader
  nfcd token create|list|revoke   manage WebSocket API tokens
  nfcd key show                  print the verdict signing public key
  nfcd history [--uid] [--since] print the audit log
  nfcd service install|...       install nfcd as a system service
  nfcd version                   print the version

`

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		switch {
		case errors.Is(err, errUsage), errors.Is(err, errInvalid):
		default:
			fmt.Fprintln(os.Stderr, "nfcd:", err)
		}
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "verify":
		return runVerify(rest, stdin, stdout, stderr)
	case "run":
		return runRun(rest, stdout, stderr)
	case "token":
		return runToken(rest, stdout, stderr)
	case "key":
		return runKey(rest, stdout, stderr)
	case "history":
		return runHistory(rest, stdout, stderr)
	case "service":
		return runServiceCmd(rest, stdout, stderr)
	case "readers":
		return runReaders(rest, stdout, stderr)
	case "vtag":
		return runVTag(rest, stdout, stderr)
	case "watch":
		return runWatch(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "nfcd", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "nfcd: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// parseFlags parses a subcommand's flags. It reports ok=false with a nil
// error after -h, and errUsage (with the usage printed) for bad flags or
// more than maxArgs positional arguments (maxArgs < 0: any number).
func parseFlags(fs *flag.FlagSet, args []string, maxArgs int) (ok bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, nil
		}
		return false, errUsage
	}
	if maxArgs >= 0 && fs.NArg() > maxArgs {
		fs.Usage()
		return false, errUsage
	}
	return true, nil
}
