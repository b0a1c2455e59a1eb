package statedir

import (
	"errors"
	"path/filepath"
	"runtime"
	"testing"
)

func TestDefault(t *testing.T) {
	noHome := func() (string, error) { return "", errors.New("no home") }
	home := func() (string, error) { return "/home/kiosk", nil }
	if runtime.GOOS == "windows" {
		home = func() (string, error) { return `C:\Users\kiosk`, nil }
	}
	type env map[string]string
	tests := []struct {
		name    string
		goos    string // "" for every OS but Windows
		env     env
		euid    int
		home    func() (string, error)
		want    string
		wantErr bool
	}{
		{name: "root", euid: 0, home: noHome, want: "/var/lib/nfcd"},
		{name: "root ignores XDG", env: env{"XDG_STATE_HOME": "/x"}, euid: 0, home: home, want: "/var/lib/nfcd"},
		{name: "user XDG", env: env{"XDG_STATE_HOME": "/srv/state"}, euid: 1000, home: home, want: "/srv/state/nfcd"},
		{name: "user relative XDG ignored", env: env{"XDG_STATE_HOME": "state"}, euid: 1000, home: home, want: "/home/kiosk/.local/state/nfcd"},
		{name: "user home", euid: 1000, home: home, want: "/home/kiosk/.local/state/nfcd"},
		{name: "user no home", euid: 1000, home: noHome, wantErr: true},
		{name: "windows", goos: "windows", env: env{"ProgramData": `C:\ProgramData`}, euid: -1, want: `C:\ProgramData\nfcd`},
		{name: "windows unset", goos: "windows", euid: -1, wantErr: true},
	}
	for _, tc := range tests {
		if (tc.goos == "windows") != (runtime.GOOS == "windows") {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			got, err := defaultDir(getenv, tc.euid, tc.home)
			if tc.wantErr {
				if !errors.Is(err, ErrNoStateDir) {
					t.Errorf("defaultDir(%s) = %q, %v; want ErrNoStateDir", tc.name, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("defaultDir(%s) = %q, %v; want %q", tc.name, got, err, tc.want)
			}
		})
	}
	if p, err := Default(); err == nil && !filepath.IsAbs(p) {
		t.Errorf("Default() = %q, want an absolute path", p)
	}
}
