package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Every nfcd command behaves the same on the command line:
//
//   - --help (or -h) prints its usage on stdout and exits 0;
//   - a wrong flag or argument prints what is wrong and the usage on
//     stderr and exits 2;
//   - otherwise it exits 0 when it did what was asked, and 1 when the
//     operation failed or a verdict was negative;
//   - commands that print data take --json.
//
// A usage text has one shape: "Usage:" and the synopsis, what the command
// does, its flags (or subcommands), and an example.

// errUsage marks a command-line mistake: the usage has been printed.
var errUsage = errors.New("usage")

// errInvalid makes nfcd exit 1 without printing more: the output already
// says which input failed.
var errInvalid = errors.New("invalid input")

// errHelp ends a command after its usage was printed on request (exit 0).
var errHelp = errors.New("help shown")

// command is one nfcd command or subcommand.
type command struct {
	// name is the words after "nfcd", e.g. "token create".
	name string
	// synopsis follows "Usage: " (several lines for several forms).
	synopsis string
	// about says what the command does, in a few lines.
	about string
	// example is one typical invocation, with a comment if useful.
	example string
	// subs, for a command that only dispatches, are its subcommands.
	subs []*command
	// summary is the line the parent's usage shows for a subcommand.
	summary string
	// flags registers the command's flags; run runs it with the parsed
	// flags and the positional arguments. maxArgs bounds them (-1: any).
	flags   func(fs *flag.FlagSet)
	maxArgs int
	run     func(e *env, args []string) error
	// interspersed lets flags follow positional arguments (nfcd verify URL
	// --json).
	interspersed bool
}

// prog is the command as typed: "nfcd token create".
func (c *command) prog() string { return strings.TrimSpace("nfcd " + c.name) }

// word is the last word of the command's name: "create".
func (c *command) word() string { return c.name[strings.LastIndexByte(c.name, ' ')+1:] }

// env is what a command runs with.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usage writes c's usage text, and fs's flags when there are any.
func (c *command) usage(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n", strings.ReplaceAll(strings.TrimSpace(c.synopsis), "\n", "\n       "))
	if c.about != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(c.about))
	}
	if len(c.subs) > 0 {
		b.WriteString("\nCommands:\n")
		for _, s := range c.subs {
			fmt.Fprintf(&b, "  %-10s %s\n", s.word(), s.summary)
		}
		fmt.Fprintf(&b, "\nRun \"%s COMMAND --help\" for the flags of one.\n", c.prog())
	}
	io.WriteString(w, b.String())
	if fs != nil && hasFlags(fs) {
		io.WriteString(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(strings.TrimSpace(c.example), "\n", "\n  "))
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// exec runs c with args (the words after its name).
func (c *command) exec(e *env, args []string) error {
	if len(c.subs) > 0 {
		if len(args) == 0 {
			c.usage(e.stderr, nil)
			return errUsage
		}
		switch args[0] {
		case "-h", "-help", "--help", "help":
			c.usage(e.stdout, nil)
			return errHelp
		}
		for _, s := range c.subs {
			if s.word() == args[0] {
				return s.exec(e, args[1:])
			}
		}
		fmt.Fprintf(e.stderr, "%s: unknown command %q\n\n", c.prog(), args[0])
		c.usage(e.stderr, nil)
		return errUsage
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed below
	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := c.parse(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.usage(e.stdout, fs)
		return errHelp
	case err != nil:
		fmt.Fprintf(e.stderr, "%s: %v\n\n", c.prog(), err)
		c.usage(e.stderr, fs)
		return errUsage
	case c.maxArgs >= 0 && len(pos) > c.maxArgs:
		fmt.Fprintf(e.stderr, "%s: unexpected argument %q\n\n", c.prog(), pos[c.maxArgs])
		c.usage(e.stderr, fs)
		return errUsage
	}
	err = c.run(e, pos)
	var ue *usageErr
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "%s: %s\n\n", c.prog(), ue.msg)
		c.usage(e.stderr, fs)
	}
	return err
}

// parse parses args; with interspersed set, flags may come before, between
// or after the positional arguments.
func (c *command) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	if !c.interspersed {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return fs.Args(), nil
	}
	pos := []string{}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" || fs.NArg() == len(args) && args[0] == "-" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// usageErr is a mistake in a command's input that flag parsing cannot see
// (a missing required flag, arguments that do not go together). exec
// prints it and the usage; it matches errUsage (exit 2).
type usageErr struct{ msg string }

func (e *usageErr) Error() string        { return e.msg }
func (e *usageErr) Is(target error) bool { return target == errUsage }

func usageError(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}
