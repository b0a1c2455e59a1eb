package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
)

var configCmd = &command{
	name:     "config",
	summary:  "print an example configuration, check one, reload the running daemon's",
	synopsis: "nfcd config example|check|reload [flags]",
	about:    "The daemon's configuration file (TOML): every key is in docs/config.md.",
	example:  "nfcd config check /etc/nfcd/nfcd.toml",
	subs:     []*command{configExampleCmd, configCheckCmd, configReloadCmd},
}

var configExampleCmd = &command{
	name:     "config example",
	summary:  "print a commented configuration with every key and its default",
	synopsis: "nfcd config example",
	about:    "Prints a configuration file with every key commented out at its default,\nready to edit; `nfcd config check` accepts it as it is.",
	example:  "nfcd config example > /etc/nfcd/nfcd.toml",
	maxArgs:  0,
	run: func(e *env, _ []string) error {
		_, err := e.stdout.Write(config.Example())
		return err
	},
}

var configCheckCmd = &command{
	name:     "config check",
	summary:  "report every problem of a configuration file, with its line and fix",
	synopsis: "nfcd config check [--json] [FILE]",
	about: `Checks a configuration file as the daemon loads it and reports every problem,
not only the first: each with its line and what to do about it. Key material
is never quoted. Warnings (keys readable by every user, factory keys) do not
fail the check. Without FILE it checks the default file of the service
(/etc/nfcd/nfcd.toml; %ProgramData%\nfcd\nfcd.toml on Windows). Exits 1 when
the file has errors.`,
	example:      "nfcd config check /etc/nfcd/nfcd.toml",
	maxArgs:      1,
	interspersed: true,
}

var configReloadCmd = &command{
	name:     "config reload",
	summary:  "make the running daemon reread its configuration file",
	synopsis: "nfcd config reload [--state-dir DIR] [--json]",
	about: `Asks the daemon running on the state directory to reread its configuration
file now (as SIGHUP does) and prints what changed. A file with errors is
refused and the running configuration kept; then the command prints the
problems and exits 1. Needs root or the service account.`,
	example: "nfcd config reload",
	maxArgs: 0,
}

func init() {
	var asJSON bool
	configCheckCmd.flags = func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print one JSON document: file, ok, problems")
	}
	configCheckCmd.run = func(e *env, args []string) error {
		path := defaultConfigPath()
		if len(args) == 1 {
			path = args[0]
		}
		if path == "" {
			return usageError("name the configuration FILE")
		}
		_, r := config.Check(path)
		if asJSON {
			if r.Problems == nil {
				r.Problems = []config.Problem{}
			}
			if err := writeJSON(e.stdout, struct {
				File     string           `json:"file"`
				OK       bool             `json:"ok"`
				Problems []config.Problem `json:"problems"`
			}{r.File, r.Err() == nil, r.Problems}); err != nil {
				return err
			}
		} else {
			printProblems(e.stdout, r.File, r.Problems)
			if len(r.Problems) == 0 {
				fmt.Fprintf(e.stdout, "%s: ok\n", r.File)
			} else {
				fmt.Fprintf(e.stdout, "%s: %s, %s\n", r.File, plural(len(r.Errors()), "error"), plural(len(r.Warnings()), "warning"))
			}
		}
		if r.Err() != nil {
			return errInvalid
		}
		return nil
	}

	var dir string
	var reloadJSON bool
	configReloadCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "state-dir", "", "state `directory` of the running daemon (default per OS)")
		fs.BoolVar(&reloadJSON, "json", false, "print the outcome as a JSON object")
	}
	configReloadCmd.run = func(e *env, _ []string) error {
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		var res daemon.ReloadResult
		running, err := callDaemon(d, daemon.AdminConfigReload, nil, &res)
		if !running {
			return fmt.Errorf("no nfcd is running on %s: there is nothing to reload (a daemon reads its configuration when it starts)", d)
		}
		if err != nil {
			return err
		}
		if reloadJSON {
			if err := writeJSON(e.stdout, res); err != nil {
				return err
			}
		} else {
			printReload(e.stdout, res)
		}
		if res.Refused {
			return errInvalid
		}
		return nil
	}
}

// printProblems writes each problem as "FILE:LINE: severity: message"
// with its fix on the next line.
func printProblems(w io.Writer, file string, ps []config.Problem) {
	for _, p := range ps {
		where := file
		if p.Line > 0 {
			where = fmt.Sprintf("%s:%d", file, p.Line)
		}
		fmt.Fprintf(w, "%s: %s: %s\n", where, p.Severity, p.Msg)
		if p.Fix != "" {
			fmt.Fprintf(w, "    fix: %s\n", p.Fix)
		}
	}
}

func printReload(w io.Writer, res daemon.ReloadResult) {
	switch {
	case res.File == "":
		fmt.Fprintln(w, "the daemon runs without a configuration file: nothing to reload")
		return
	case res.Refused:
		printProblems(w, res.File, res.Problems)
		fmt.Fprintf(w, "%s: refused; the daemon keeps its running configuration\n", res.File)
		return
	}
	printProblems(w, res.File, res.Problems)
	if len(res.Applied) == 0 && len(res.Restart) == 0 {
		fmt.Fprintf(w, "%s: unchanged (%.1f ms)\n", res.File, res.TookMS)
		return
	}
	if len(res.Applied) > 0 {
		fmt.Fprintf(w, "%s: reloaded in %.1f ms; applied: %s\n", res.File, res.TookMS, strings.Join(res.Applied, ", "))
	}
	if len(res.Restart) > 0 {
		fmt.Fprintf(w, "%s: take effect at the next start: %s\n", res.File, strings.Join(res.Restart, ", "))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
