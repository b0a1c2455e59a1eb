package dist

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/servicedef"
)

func TestDebVersion(t *testing.T) {
	date := time.Date(2026, 5, 1, 12, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	tests := []struct{ in, want string }{
		{"v1.2.0", "1.2.0"},
		{"1.2.0", "1.2.0"},
		{"v1.2.0-rc1", "1.2.0~rc1"},
		{"v1.2.0-3-gabc1234", "1.2.0+3.gabc1234"},
		{"v1.2.0-3-gabc1234-dirty", "1.2.0+3.gabc1234.dirty"},
		{"v1.2.0-dirty", "1.2.0+dirty"},
		{"v1.2.0-rc.2-1-gabc1234", "1.2.0~rc.2+1.gabc1234"},
		{"c9b201e", "0.0.0~git20260501103000.c9b201e"},
		{"c9b201e-dirty", "0.0.0~git20260501103000.c9b201e.dirty"},
		{"dev", "0.0.0~git20260501103000.dev"},
		{"", "0.0.0~git20260501103000"},
	}
	for _, tc := range tests {
		if got := DebVersion(tc.in, date); got != tc.want {
			t.Errorf("DebVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := DebVersion("abc", time.Time{}); got != "0.0.0~git.abc" {
		t.Errorf("DebVersion without date = %q", got)
	}
	// dpkg must agree on the order where it is installed.
	if _, err := exec.LookPath("dpkg"); err != nil {
		return
	}
	order := []string{"0.0.0~git20260501103000.c9b201e", "1.2.0~rc1", "1.2.0", "1.2.0+3.gabc1234", "1.2.0+3.gabc1234.dirty", "1.2.1"}
	for i := 1; i < len(order); i++ {
		if err := exec.Command("dpkg", "--compare-versions", order[i-1], "lt", order[i]).Run(); err != nil {
			t.Errorf("dpkg: %s is not before %s", order[i-1], order[i])
		}
	}
}

func TestExampleConfigParses(t *testing.T) {
	c, err := config.Parse("nfcd.toml", ExampleConfig())
	if err != nil {
		t.Fatalf("the packaged example configuration is refused: %v", err)
	}
	if c.Listen != config.DefaultListen {
		t.Errorf("example listen = %q", c.Listen)
	}
	// Uncommented, every key must still be accepted.
	var b strings.Builder
	for _, line := range strings.Split(string(ExampleConfig()), "\n") {
		if rest, ok := strings.CutPrefix(line, "#"); ok && (strings.Contains(rest, " = ") || strings.HasPrefix(rest, "[")) {
			line = rest
		}
		b.WriteString(line + "\n")
	}
	if _, err := config.Parse("uncommented", []byte(b.String())); err != nil {
		t.Errorf("the example with every key set is refused: %v\n%s", err, b.String())
	}
}

func TestStage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "nfcd-bin")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	cfgPath, err := Deb{Binary: bin, Version: "v1.2.3", Date: time.Unix(1777636800, 0)}.Stage(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfgPath)
	var cfg nfpmConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Version != "1.2.3" || cfg.VersionSchema != "none" || cfg.Arch != "amd64" || cfg.MTime.Unix() != 1777636800 {
		t.Errorf("nfpm config = %+v", cfg)
	}
	for _, c := range cfg.Contents {
		if _, err := os.Stat(c.Src); err != nil {
			t.Errorf("content %s: %v", c.Dst, err)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dir, "nfcd.service"))
	want, _ := Unit()
	if string(unit) != want || !strings.Contains(want, "ExecStart=/usr/bin/nfcd run --config /etc/nfcd/nfcd.toml --state-dir /var/lib/nfcd\n") {
		t.Errorf("staged unit:\n%s", unit)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if out, err := exec.Command("sh", "-n", filepath.Join(dir, s)).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", s, err, out)
		}
	}
	if _, err := (Deb{Binary: filepath.Join(dir, "missing")}).Stage(t.TempDir()); err == nil {
		t.Error("Stage with a missing binary succeeded")
	}
}

// moduleRoot is the directory of go.mod.
func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Skipf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// TestBuildDeb builds nfcd and its .deb as make dist does, unpacks the
// package with dpkg-deb and checks what an installation would get.
func TestBuildDeb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nfcd and nfpm")
	}
	for _, tool := range []string{"go", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root := moduleRoot(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "nfcd-linux-amd64")
	const version = "v1.2.3-rc1"
	ldflags := "-s -w -X main.version=" + version +
		" -X github.com/nfcd/nfcd/internal/buildinfo.Version=" + version +
		" -X github.com/nfcd/nfcd/internal/buildinfo.Commit=0123456789ab"
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/nfcd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	date := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	deb, err := Deb{Binary: bin, Version: version, Date: date, OutDir: filepath.Join(tmp, "dist")}.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(deb) != "nfcd_1.2.3~rc1_amd64.deb" {
		t.Errorf("package file %s", filepath.Base(deb))
	}
	st, _ := os.Stat(deb)
	t.Logf("%s: %d bytes", filepath.Base(deb), st.Size())

	fsRoot := filepath.Join(tmp, "root")
	ctl := filepath.Join(tmp, "control")
	for _, args := range [][]string{{"-x", deb, fsRoot}, {"-e", deb, ctl}} {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", args...).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb %s: %v\n%s", args[0], err, out)
		}
	}

	files := map[string]fs.FileMode{
		BinaryPath:    0o755,
		UnitPath:      0o644,
		SysusersPath:  0o644,
		PolkitPath:    0o644,
		ConfigPath:    0o640,
		BlacklistPath: 0o644,
	}
	for path, mode := range files {
		st, err := os.Stat(filepath.Join(fsRoot, path))
		if err != nil {
			t.Errorf("package lacks %s", path)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %04o, want %04o", path, st.Mode().Perm(), mode)
		}
		if !st.ModTime().Equal(date) {
			t.Errorf("%s is dated %v, want the commit date %v", path, st.ModTime(), date)
		}
	}
	var all []string
	filepath.WalkDir(fsRoot, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(fsRoot, p)
			all = append(all, "/"+rel)
		}
		return nil
	})
	if len(all) != len(files) {
		t.Errorf("package holds %q, want exactly %d files", all, len(files))
	}

	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
		}
		return string(b)
	}
	if unit, want := read(filepath.Join(fsRoot, UnitPath)), mustUnit(t); unit != want {
		t.Errorf("packaged unit differs from servicedef's:\n%s", unit)
	}
	if got := read(filepath.Join(fsRoot, SysusersPath)); got != servicedef.SysusersConf() {
		t.Errorf("sysusers = %q", got)
	}
	if got := read(filepath.Join(fsRoot, ConfigPath)); got != string(ExampleConfig()) {
		t.Error("packaged configuration differs from the example")
	}
	if got := strings.TrimSpace(read(filepath.Join(ctl, "conffiles"))); got != ConfigPath {
		t.Errorf("conffiles = %q, want %s", got, ConfigPath)
	}
	control := read(filepath.Join(ctl, "control"))
	for _, want := range []string{"Package: nfcd\n", "Version: 1.2.3~rc1\n", "Architecture: amd64\n", "Depends: libpcsclite1, pcscd\n"} {
		if !strings.Contains(control, want) {
			t.Errorf("control lacks %q:\n%s", want, control)
		}
	}
	postinst := read(filepath.Join(ctl, "postinst"))
	for _, want := range []string{"systemd-sysusers nfcd.conf", "install -d -o nfcd -g nfcd -m 0700 /var/lib/nfcd", "deb-systemd-helper enable nfcd.service", "chmod 0640 /etc/nfcd/nfcd.toml"} {
		if !strings.Contains(postinst, want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		st, err := os.Stat(filepath.Join(ctl, s))
		if err != nil || st.Mode().Perm()&0o111 == 0 {
			t.Errorf("maintainer script %s missing or not executable", s)
		}
	}

	// The packaged binary runs and knows its version.
	out, err := exec.CommandContext(ctx, filepath.Join(fsRoot, BinaryPath), "version").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(version)) {
		t.Errorf("nfcd version = %q, %v; want %s", out, err, version)
	}
}

func mustUnit(t *testing.T) string {
	u, err := Unit()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestCrossBuildWindows builds the Windows .exe as make dist does: without
// cgo (ebfe/scard reaches winscard.dll through syscall), so that every CI
// run proves the Windows build.
func TestCrossBuildWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds nfcd")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not installed")
	}
	exe := filepath.Join(t.TempDir(), "nfcd.exe")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", exe, "./cmd/nfcd")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(exe)
	if err != nil || len(b) < 2 || string(b[:2]) != "MZ" {
		t.Fatalf("%s is not a Windows executable", exe)
	}
	t.Logf("nfcd.exe: %d bytes", len(b))
}
