// Command mkdeb builds nfcd's Debian package (internal/dist) for make dist:
//
//	go run ./tools/mkdeb -binary dist/nfcd-linux-amd64 -version v1.2.3 -date 2026-05-01T12:00:00Z -out dist
//
// It prints the path of the package.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/dist"
)

func main() {
	var d dist.Deb
	var date, nfpm string
	flag.StringVar(&d.Binary, "binary", "", "linux nfcd `executable` to package")
	flag.StringVar(&d.Version, "version", "dev", "build `version` (git describe)")
	flag.StringVar(&date, "date", "", "commit `date`, RFC 3339 (versions of untagged builds)")
	flag.StringVar(&d.Arch, "arch", "amd64", "Debian `architecture`")
	flag.StringVar(&d.OutDir, "out", "dist", "output `directory`")
	flag.StringVar(&nfpm, "nfpm", "", "nfpm `command` (default: go run …/nfpm@"+dist.NFPMVersion+")")
	flag.Parse()
	if d.Binary == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if date != "" {
		t, err := time.Parse(time.RFC3339, date)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkdeb: -date:", err)
			os.Exit(2)
		}
		d.Date = t
	}
	if nfpm != "" {
		d.NFPM = strings.Fields(nfpm)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	path, err := d.Build(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
