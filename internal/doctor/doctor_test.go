package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/doctor"
	"github.com/nfcd/nfcd/internal/doctor/doctortest"
)

const (
	cfgPath  = "/etc/nfcd/nfcd.toml"
	stateDir = "/var/lib/nfcd"
)

func linuxOpts() doctor.Options {
	return doctor.Options{GOOS: "linux", ConfigFile: cfgPath, StateDir: stateDir, ServiceUser: "nfcd", RemoteURL: "https://api.example"}
}

func windowsOpts() doctor.Options {
	return doctor.Options{GOOS: "windows", ConfigFile: `C:\ProgramData\nfcd\nfcd.toml`, StateDir: `C:\ProgramData\nfcd`}
}

func run(p *doctortest.Probes, o doctor.Options) doctor.Report {
	return doctor.Run(context.Background(), p, o)
}

// want checks that the report has the finding id at severity s whose
// message and fix contain the given texts.
func want(t *testing.T, r doctor.Report, id string, s doctor.Severity, msg, fix string) {
	t.Helper()
	f, ok := r.Find(id)
	if !ok {
		t.Errorf("no finding %s; got %s", id, ids(r))
		return
	}
	if f.Severity != s || !strings.Contains(f.Message, msg) || !strings.Contains(f.Fix, fix) {
		t.Errorf("finding %s = %+v; want severity %s, message with %q, fix with %q", id, f, s, msg, fix)
	}
}

func absent(t *testing.T, r doctor.Report, prefix string) {
	t.Helper()
	for _, f := range r.Findings {
		if strings.HasPrefix(f.ID, prefix) {
			t.Errorf("unexpected finding %+v", f)
		}
	}
}

func ids(r doctor.Report) string {
	var s []string
	for _, f := range r.Findings {
		s = append(s, f.ID+"("+string(f.Severity)+")")
	}
	return strings.Join(s, " ")
}

func TestHealthyLinux(t *testing.T) {
	r := run(doctortest.Healthy(cfgPath, stateDir, "nfcd"), linuxOpts())
	if w := r.Worst(); w != doctor.OK && w != doctor.Info {
		t.Errorf("healthy machine: worst %s: %s", w, ids(r))
	}
	for _, id := range []string{"config.ok", "pcscd.ok", "readers.ok", "listen.ok", "state.ok", "clock.ok", "browser.local_only"} {
		if _, ok := r.Find(id); !ok {
			t.Errorf("healthy machine lacks %s: %s", id, ids(r))
		}
	}
	absent(t, r, "scardsvr.")
	absent(t, r, "kernel.")
}

func TestPCSCD(t *testing.T) {
	tests := []struct {
		name     string
		state    doctor.PCSCD
		user     string
		id       string
		severity doctor.Severity
		fix      string
	}{
		{"not installed", doctor.PCSCD{}, "nfcd", "pcscd.missing", doctor.Error, "apt-get install pcscd"},
		{"socket inactive", doctor.PCSCD{Installed: true, Systemd: true}, "nfcd", "pcscd.socket_inactive", doctor.Error, "systemctl enable --now pcscd.socket"},
		{"socket not enabled", doctor.PCSCD{Installed: true, Systemd: true, SocketActive: true}, "nfcd", "pcscd.socket_disabled", doctor.Warning, "systemctl enable pcscd.socket"},
		{"no systemd, not running", doctor.PCSCD{Installed: true}, "nfcd", "pcscd.not_running", doctor.Error, "pcscd --foreground"},
		{"no systemd, running", doctor.PCSCD{Installed: true, Running: true}, "nfcd", "pcscd.ok", doctor.OK, ""},
		{"polkit without rule", doctor.PCSCD{Installed: true, Systemd: true, SocketActive: true, SocketEnabled: true, Polkit: true}, "nfcd", "pcscd.polkit", doctor.Error, "60-nfcd-pcsc.rules"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := doctortest.Healthy(cfgPath, stateDir, tc.user)
			p.PCSCDState = tc.state
			o := linuxOpts()
			o.ServiceUser = tc.user
			want(t, run(p, o), tc.id, tc.severity, "", tc.fix)
		})
	}
	// Polkit is no matter when the rule exists or the service runs as root.
	for _, tc := range []struct {
		rule bool
		user string
	}{{true, "nfcd"}, {false, ""}} {
		p := doctortest.Healthy(cfgPath, stateDir, tc.user)
		p.PCSCDState = doctor.PCSCD{Installed: true, Running: true, Polkit: true, PolkitRule: tc.rule}
		o := linuxOpts()
		o.ServiceUser = tc.user
		absent(t, run(p, o), "pcscd.polkit")
	}
}

func TestReaders(t *testing.T) {
	tests := []struct {
		name     string
		goos     string
		names    []string
		err      error
		id       string
		severity doctor.Severity
		fix      string
	}{
		{"none on linux", "linux", nil, nil, "readers.none", doctor.Warning, "libccid 1.5.3"},
		{"none on windows", "windows", nil, nil, "readers.none", doctor.Warning, "Device Manager"},
		{"no service linux", "linux", nil, fmt.Errorf("list readers: %w", doctor.ErrNoService), "readers.no_service", doctor.Error, "pcscd"},
		{"no service windows", "windows", nil, fmt.Errorf("list readers: %w", doctor.ErrNoService), "readers.no_service", doctor.Error, "Plug in a reader"},
		{"denied", "linux", nil, fmt.Errorf("list readers: %w", doctor.ErrDenied), "readers.denied", doctor.Error, "polkit"},
		{"other error", "linux", nil, errors.New("boom"), "readers.error", doctor.Error, ""},
		{"two", "linux", []string{"A", "B"}, nil, "readers.ok", doctor.OK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := linuxOpts()
			if tc.goos == "windows" {
				o = windowsOpts()
			}
			p := doctortest.Healthy(o.ConfigFile, o.StateDir, o.ServiceUser)
			p.ReaderNames, p.ReadersErr = tc.names, tc.err
			want(t, run(p, o), tc.id, tc.severity, "", tc.fix)
		})
	}
}

func TestPN533(t *testing.T) {
	p := doctortest.Healthy(cfgPath, stateDir, "nfcd")
	p.Modules = []string{"nfc", "pn533", "pn533_usb", "usbhid"}
	p.USB = []doctor.USBDevice{{Vendor: 0x1d6b, Product: 0x0002}, doctor.ACR122U}
	r := run(p, linuxOpts())
	want(t, r, "kernel.pn533", doctor.Error, "ACR122U", "blacklist pn533_usb")
	want(t, r, "kernel.pn533", doctor.Error, "pn533, pn533_usb", "modprobe -r pn533_usb")

	p.USB = p.USB[:1]
	want(t, run(p, linuxOpts()), "kernel.pn533", doctor.Warning, "when one is plugged in", "/etc/modprobe.d/blacklist-nfc.conf")

	p.Modules = []string{"nfc", "usbhid"}
	absent(t, run(p, linuxOpts()), "kernel.")
}

func TestSCardSvr(t *testing.T) {
	tests := []struct {
		name     string
		state    doctor.WindowsService
		id       string
		severity doctor.Severity
		fix      string
	}{
		{"running", doctor.WindowsService{Exists: true, Running: true, StartType: "demand"}, "scardsvr.ok", doctor.OK, ""},
		{"stopped", doctor.WindowsService{Exists: true, StartType: "demand"}, "scardsvr.stopped", doctor.Warning, "sc start SCardSvr"},
		{"disabled", doctor.WindowsService{Exists: true, StartType: "disabled"}, "scardsvr.disabled", doctor.Error, "sc config SCardSvr start= demand"},
		{"missing", doctor.WindowsService{}, "scardsvr.missing", doctor.Error, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := windowsOpts()
			p := doctortest.Healthy(o.ConfigFile, o.StateDir, "")
			p.SCardSvr = tc.state
			p.PCSCDState = doctor.PCSCD{} // would be "missing" if asked on Windows
			p.Modules = []string{"pn533_usb"}
			r := run(p, o)
			want(t, r, tc.id, tc.severity, "", tc.fix)
			absent(t, r, "pcscd.")
			absent(t, r, "kernel.")
		})
	}
}

func TestPort(t *testing.T) {
	p := doctortest.Healthy(cfgPath, stateDir, "nfcd")
	p.Port = doctor.PortOther
	want(t, run(p, linuxOpts()), "listen.in_use", doctor.Error, "127.0.0.1:7424", "ss -ltnp 'sport = :7424'")
	o := windowsOpts()
	w := doctortest.Healthy(o.ConfigFile, o.StateDir, "")
	w.Port = doctor.PortOther
	want(t, run(w, o), "listen.in_use", doctor.Error, "", "netstat -abno | findstr :7424")
	p.Port = doctor.PortNfcd
	want(t, run(p, linuxOpts()), "listen.nfcd", doctor.Info, "already running", "")
	// The configuration's address is the one checked.
	ci := p.Configs[cfgPath]
	ci.Listen = "127.0.0.1:7500"
	p.Configs[cfgPath], p.Port = ci, doctor.PortOther
	want(t, run(p, linuxOpts()), "listen.in_use", doctor.Error, "127.0.0.1:7500", ":7500")
}

func TestConfig(t *testing.T) {
	p := doctortest.Healthy(cfgPath, stateDir, "nfcd")
	p.Configs[cfgPath] = doctor.ConfigInfo{Exists: true, Mode: 0o644, Errors: []error{
		errors.New("config: line 3: unknown key \"listne\""),
		errors.New("profile store: sdm_file_read_key: want 32 hex digits"),
	}}
	r := run(p, linuxOpts())
	n := 0
	for _, f := range r.Findings {
		if f.ID == "config.invalid" {
			n++
			if f.Severity != doctor.Error || !strings.Contains(f.Fix, "nfcd config check "+cfgPath) {
				t.Errorf("config.invalid = %+v", f)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d config.invalid findings, want one per error: %s", n, ids(r))
	}
	absent(t, r, "config.ok")

	p.Configs[cfgPath] = doctor.ConfigInfo{Exists: true, Mode: 0o644, HoldsKeys: true}
	want(t, run(p, linuxOpts()), "config.readable", doctor.Warning, "holds tag keys", "chown root:nfcd "+cfgPath)
	p.Configs[cfgPath] = doctor.ConfigInfo{Exists: true, Mode: 0o640, HoldsKeys: true}
	absent(t, run(p, linuxOpts()), "config.readable")

	delete(p.Configs, cfgPath)
	want(t, run(p, linuxOpts()), "config.missing", doctor.Error, cfgPath, "nfcd config example")

	o := linuxOpts()
	o.ConfigFile = ""
	want(t, run(p, o), "config.none", doctor.Info, "defaults", "")
}

func TestStateDir(t *testing.T) {
	p := doctortest.Healthy(cfgPath, stateDir, "nfcd")
	p.Dirs[stateDir] = doctor.DirInfo{Exists: true, IsDir: true, Mode: fs.ModeDir | 0o755, Owner: "root"}
	r := run(p, linuxOpts())
	want(t, r, "state.owner", doctor.Error, "belongs to root", "chown -R nfcd:nfcd "+stateDir)
	want(t, r, "state.permissions", doctor.Warning, "0755", "chmod 700 "+stateDir)
	absent(t, r, "state.ok")

	o := linuxOpts()
	o.ServiceUser = "" // root service: root owning it is right
	p.Dirs[stateDir] = doctor.DirInfo{Exists: true, IsDir: true, Mode: fs.ModeDir | 0o700, Owner: "root"}
	want(t, run(p, o), "state.ok", doctor.OK, "", "")

	delete(p.Dirs, stateDir)
	want(t, run(p, o), "state.missing", doctor.Info, "creates it", "")

	p.Dirs[stateDir] = doctor.DirInfo{Exists: true}
	want(t, run(p, o), "state.not_dir", doctor.Error, "", "")
}

func TestClock(t *testing.T) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		skew     time.Duration
		id       string
		severity doctor.Severity
		msg      string
	}{
		{2 * time.Second, "clock.ok", doctor.OK, ""},
		{-45 * time.Second, "clock.skew", doctor.Warning, "45s behind"},
		{10 * time.Minute, "clock.skew", doctor.Error, "10m0s ahead of"},
	}
	for _, tc := range tests {
		p := doctortest.Healthy(cfgPath, stateDir, "nfcd")
		p.RemoteTime, p.LocalTime = base, base.Add(tc.skew)
		fix := ""
		if tc.severity != doctor.OK {
			fix = "timedatectl set-ntp true"
		}
		want(t, run(p, linuxOpts()), tc.id, tc.severity, tc.msg, fix)
	}
	p := doctortest.Healthy(cfgPath, stateDir, "nfcd")
	p.RemoteErr = errors.New("dial tcp: i/o timeout")
	r := run(p, linuxOpts())
	want(t, r, "remote.unreachable", doctor.Warning, "api.example", "proxy")
	absent(t, r, "clock.")
	o := linuxOpts()
	o.RemoteURL = ""
	absent(t, run(p, o), "clock.")
	absent(t, run(p, o), "remote.")
}

func TestBrowsers(t *testing.T) {
	p := doctortest.Healthy(cfgPath, stateDir, "nfcd")
	ci := p.Configs[cfgPath]
	ci.AllowedOrigins = []string{"https://pos.example", "http://shop.example", "http://localhost:3000", "http://127.0.0.1:8080"}
	p.Configs[cfgPath] = ci
	r := run(p, linuxOpts())
	want(t, r, "browser.lna", doctor.Info, "https://pos.example", `LocalNetworkAccessAllowedForUrls = ["https://pos.example"]`)
	want(t, r, "browser.lna", doctor.Info, "", `allow="loopback-network"`)
	want(t, r, "browser.insecure_origin", doctor.Warning, "http://shop.example", "https")
	n := 0
	for _, f := range r.Findings {
		if strings.HasPrefix(f.ID, "browser.") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d browser findings, want 2 (loopback origins need no permission): %s", n, ids(r))
	}
}

func TestJSONShape(t *testing.T) {
	p := doctortest.Healthy(cfgPath, stateDir, "nfcd")
	p.PCSCDState = doctor.PCSCD{}
	var buf bytes.Buffer
	if err := run(p, linuxOpts()).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string][]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || len(doc) != 1 || doc["findings"] == nil {
		t.Fatalf("--json output is not {findings:[…]}: %s (%v)", buf.String(), err)
	}
	for _, f := range doc["findings"] {
		for k := range f {
			if k != "id" && k != "severity" && k != "message" && k != "fix" {
				t.Errorf("finding has key %q", k)
			}
		}
		if f["id"] == "pcscd.missing" && (f["severity"] != "error" || f["fix"] == nil) {
			t.Errorf("pcscd.missing = %v", f)
		}
	}
	buf.Reset()
	doctor.Report{}.WriteJSON(&buf)
	if strings.Join(strings.Fields(buf.String()), "") != `{"findings":[]}` {
		t.Errorf("empty report = %s", buf.String())
	}
}

func TestText(t *testing.T) {
	r := doctor.Report{Findings: []doctor.Finding{
		{ID: "a.ok", Severity: doctor.OK, Message: "Fine."},
		{ID: "b.bad", Severity: doctor.Error, Message: "Broken.", Fix: "step one\nstep two"},
		{ID: "c.meh", Severity: doctor.Warning, Message: "Odd."},
	}}
	var buf bytes.Buffer
	r.WriteText(&buf)
	want := "ERROR   Broken.\n        fix: step one\n             step two\nWARNING Odd.\nOK      Fine.\n"
	if buf.String() != want {
		t.Errorf("text:\n%s\nwant\n%s", buf.String(), want)
	}
	if r.Worst() != doctor.Error {
		t.Errorf("Worst = %s", r.Worst())
	}
}

// Every finding anywhere carries a known severity and an id of the form
// area.condition; problems carry a fix.
func TestFindingsWellFormed(t *testing.T) {
	p := &doctortest.Probes{Port: doctor.PortOther, ReadersErr: doctor.ErrNoService, Modules: []string{"pn533_usb"},
		Configs:    map[string]doctor.ConfigInfo{cfgPath: {Exists: true, Mode: 0o666, HoldsKeys: true, Errors: []error{errors.New("bad")}, AllowedOrigins: []string{"https://a.example", "http://b.example"}}},
		Dirs:       map[string]doctor.DirInfo{stateDir: {Exists: true, IsDir: true, Mode: 0o777, Owner: "root"}},
		RemoteTime: time.Unix(0, 0), LocalTime: time.Unix(3600, 0)}
	for _, o := range []doctor.Options{linuxOpts(), windowsOpts()} {
		for _, f := range run(p, o).Findings {
			if !reflect.DeepEqual(strings.Count(f.ID, "."), 1) || f.Message == "" {
				t.Errorf("%s: malformed finding %+v", o.GOOS, f)
			}
			switch f.Severity {
			case doctor.Warning, doctor.Error:
				if f.Fix == "" && f.ID != "config.invalid" && f.ID != "readers.error" && f.ID != "scardsvr.missing" && !strings.HasSuffix(f.ID, ".unknown") {
					t.Errorf("%s: %s has no fix", o.GOOS, f.ID)
				}
			case doctor.OK, doctor.Info:
			default:
				t.Errorf("%s: %s has severity %q", o.GOOS, f.ID, f.Severity)
			}
		}
	}
}
