package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	withVCS := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.time", Value: "2026-05-01T12:00:00Z"},
		}}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := []struct {
		name                  string
		version, commit, date string
		read                  func() (*debug.BuildInfo, bool)
		want                  Info
	}{
		{"ldflags win", "1.2.3", "abc1234", "2026-04-01T00:00:00Z", withVCS, Info{Version: "1.2.3", Commit: "abc1234", Date: "2026-04-01T00:00:00Z"}},
		{"go install", "dev", "", "", withVCS, Info{Version: "v1.4.0", Commit: "0123456789ab", Date: "2026-05-01T12:00:00Z"}},
		{"nothing known", "dev", "", "", none, Info{Version: "dev"}},
	}
	for _, tc := range tests {
		got := get(tc.version, tc.commit, tc.date, tc.read)
		got.GoVersion = ""
		if got != tc.want {
			t.Errorf("%s: get = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if s := (Info{Version: "1.2.3", Commit: "abc", GoVersion: "go1.26"}).String(); s != "1.2.3 (abc, go1.26)" {
		t.Errorf("String = %q", s)
	}
	if g := Get(); g.Version == "" || !strings.HasPrefix(g.GoVersion, "go") {
		t.Errorf("Get = %+v", g)
	}
}
