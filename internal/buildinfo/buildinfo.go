// Package buildinfo identifies the running nfcd binary for `nfcd version`,
// the WebSocket hello, /healthz and nfcd_build_info. The Makefile sets the
// variables with the linker:
//
//	go build -ldflags "-X github.com/nfcd/nfcd/internal/buildinfo.Version=1.2.3
//	  -X github.com/nfcd/nfcd/internal/buildinfo.Commit=abc1234
//	  -X github.com/nfcd/nfcd/internal/buildinfo.Date=2026-05-01T12:00:00Z"
//
// Without them (go run, go install) the Go build information fills in what
// it knows.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by -ldflags -X.
var (
	Version = "dev"
	Commit  = ""
	Date    = "" // commit date, RFC 3339 (reproducible: not the build time)
)

// Info is the build's identity.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go_version"`
}

// Get returns the build's identity: the linker-set values, completed from
// the module and VCS build settings where those are empty.
func Get() Info {
	return get(Version, Commit, Date, debug.ReadBuildInfo)
}

func get(version, commit, date string, read func() (*debug.BuildInfo, bool)) Info {
	i := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	bi, ok := read()
	if !ok {
		return i
	}
	if (i.Version == "dev" || i.Version == "") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && i.Commit == "":
			i.Commit = s.Value
			if len(i.Commit) > 12 {
				i.Commit = i.Commit[:12]
			}
		case s.Key == "vcs.time" && i.Date == "":
			i.Date = s.Value
		}
	}
	return i
}

// String is the one-line form: "1.2.3 (abc1234, 2026-05-01T12:00:00Z, go1.26.8)".
func (i Info) String() string {
	var extra []string
	for _, s := range []string{i.Commit, i.Date, i.GoVersion} {
		if s != "" {
			extra = append(extra, s)
		}
	}
	return i.Version + " (" + strings.Join(extra, ", ") + ")"
}
