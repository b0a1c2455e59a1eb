// Package dist builds nfcd's Debian package with nfpm
// (github.com/goreleaser/nfpm/v2, its command pinned at NFPMVersion and run
// through the Go module proxy, so that the module graph stays small):
//
//	/usr/bin/nfcd
//	/usr/lib/systemd/system/nfcd.service         the unit of internal/servicedef
//	/usr/lib/sysusers.d/nfcd.conf                the nfcd account
//	/usr/share/polkit-1/rules.d/60-nfcd-pcsc.rules  PC/SC for that account where pcscd asks polkit
//	/etc/nfcd/nfcd.toml                          commented example, a conffile
//	/usr/share/doc/nfcd/examples/blacklist-nfc.conf  pn533 blacklist for ACR122U readers
//
// The maintainer scripts create the account and /var/lib/nfcd, restrict the
// configuration to root and the service, enable the service on first
// installation and restart it on upgrades.
package dist

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/servicedef"
)

// NFPMVersion is the nfpm release used to build packages.
const NFPMVersion = "v2.48.0"

// NFPMCommand runs nfpm through the Go toolchain at NFPMVersion.
var NFPMCommand = []string{"go", "run", "github.com/goreleaser/nfpm/v2/cmd/nfpm@" + NFPMVersion}

//go:embed files
var files embed.FS

// Deb describes one .deb.
type Deb struct {
	// Binary is the linux nfcd executable to package.
	Binary string
	// Version is the build version (git describe); see DebVersion.
	Version string
	// Date is the commit date, used in versions of untagged builds.
	Date time.Time
	// Arch is the Debian architecture; "" means amd64.
	Arch string
	// OutDir receives the package.
	OutDir string
	// NFPM is the nfpm command; nil means NFPMCommand.
	NFPM []string
	// Maintainer is the Maintainer field; "" means the project's.
	Maintainer string
}

// Path names inside the package.
const (
	BinaryPath    = "/usr/bin/nfcd"
	UnitPath      = "/usr/lib/systemd/system/nfcd.service"
	SysusersPath  = "/usr/lib/sysusers.d/nfcd.conf"
	PolkitPath    = "/usr/share/polkit-1/rules.d/" + servicedef.PolkitRuleFile
	ConfigPath    = "/etc/nfcd/nfcd.toml"
	BlacklistPath = "/usr/share/doc/nfcd/examples/blacklist-nfc.conf"
)

// Unit returns the packaged service's unit: the binary in /usr/bin, the
// configuration in /etc/nfcd, state in /var/lib/nfcd, as user nfcd.
func Unit() (string, error) {
	l, err := servicedef.Linux(servicedef.Options{
		Executable: BinaryPath,
		ConfigFile: servicedef.LinuxPaths().Config,
		User:       servicedef.User,
	})
	if err != nil {
		return "", err
	}
	return l.Unit(), nil
}

// ExampleConfig returns the commented configuration the package installs:
// the one `nfcd config example` prints.
func ExampleConfig() []byte { return config.Example() }

var (
	reTagged = regexp.MustCompile(`^v?([0-9][0-9.]*)(?:-((?:alpha|beta|rc|pre)[0-9A-Za-z.]*))?(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)
	reUnsafe = regexp.MustCompile(`[^0-9A-Za-z.+~]+`)
)

// DebVersion turns a git describe version into a Debian one that sorts
// right: v1.2.0 → 1.2.0, v1.2.0-rc1 → 1.2.0~rc1 (before 1.2.0),
// v1.2.0-3-gabc1234 → 1.2.0+3.gabc1234 (after it), -dirty → +dirty. An
// untagged build (a bare commit, "dev") becomes 0.0.0~git<date>.<commit>.
func DebVersion(v string, date time.Time) string {
	if m := reTagged.FindStringSubmatch(v); m != nil {
		out := strings.TrimRight(m[1], ".")
		if m[2] != "" {
			out += "~" + m[2]
		}
		if m[3] != "" {
			out += "+" + m[3] + ".g" + m[4]
		}
		if m[5] != "" {
			if strings.Contains(out, "+") {
				out += ".dirty"
			} else {
				out += "+dirty"
			}
		}
		return out
	}
	out := "0.0.0~git"
	if !date.IsZero() {
		out += date.UTC().Format("20060102150405")
	}
	if s := strings.Trim(reUnsafe.ReplaceAllString(v, "."), "."); s != "" {
		out += "." + s
	}
	return out
}

// nfpmConfig is nfpm's configuration; JSON is YAML, so nfpm reads it as is.
type nfpmConfig struct {
	Name          string            `json:"name"`
	Arch          string            `json:"arch"`
	Platform      string            `json:"platform"`
	Version       string            `json:"version"`
	VersionSchema string            `json:"version_schema"`
	Section       string            `json:"section"`
	Priority      string            `json:"priority"`
	Maintainer    string            `json:"maintainer"`
	Description   string            `json:"description"`
	Vendor        string            `json:"vendor"`
	Depends       []string          `json:"depends"`
	Contents      []nfpmContent     `json:"contents"`
	Scripts       map[string]string `json:"scripts"`
	MTime         time.Time         `json:"mtime,omitzero"`
}

type nfpmContent struct {
	Src      string        `json:"src"`
	Dst      string        `json:"dst"`
	Type     string        `json:"type,omitempty"`
	FileInfo *nfpmFileInfo `json:"file_info,omitempty"`
}

type nfpmFileInfo struct {
	Mode uint32 `json:"mode"`
}

// Stage writes the package's files and nfpm's configuration into dir and
// returns the configuration's path.
func (d Deb) Stage(dir string) (string, error) {
	if d.Binary == "" {
		return "", errors.New("dist: no binary")
	}
	bin, err := filepath.Abs(d.Binary)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("dist: binary: %w", err)
	}
	unit, err := Unit()
	if err != nil {
		return "", err
	}
	staged := map[string][]byte{
		"nfcd.service":       []byte(unit),
		"sysusers.conf":      []byte(servicedef.SysusersConf()),
		"polkit.rules":       []byte(servicedef.PolkitRule()),
		"nfcd.toml":          ExampleConfig(),
		"blacklist-nfc.conf": nil,
		"postinst":           nil,
		"prerm":              nil,
		"postrm":             nil,
	}
	for name, b := range staged {
		if b == nil {
			if b, err = files.ReadFile("files/" + name); err != nil {
				return "", err
			}
		}
		mode := os.FileMode(0o644)
		if name == "postinst" || name == "prerm" || name == "postrm" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
			return "", err
		}
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	arch := d.Arch
	if arch == "" {
		arch = "amd64"
	}
	maint := d.Maintainer
	if maint == "" {
		maint = "nfcd maintainers <maintainers@nfcd.invalid>"
	}
	cfg := nfpmConfig{
		Name:          "nfcd",
		Arch:          arch,
		Platform:      "linux",
		Version:       DebVersion(d.Version, d.Date),
		VersionSchema: "none",
		Section:       "misc",
		Priority:      "optional",
		Maintainer:    maint,
		Description: "NFC daemon for NTAG 424 DNA tags\n" +
			"Reads tags from PC/SC readers, verifies their SUN messages and serves\n" +
			"signed verdicts to local web pages over a loopback WebSocket.",
		Vendor: "nfcd",
		// Linked against libpcsclite (never statically: its protocol with
		// pcscd is versioned); pcscd talks to the readers.
		Depends: []string{"libpcsclite1", "pcscd"},
		Contents: []nfpmContent{
			{Src: bin, Dst: BinaryPath, FileInfo: &nfpmFileInfo{Mode: 0o755}},
			{Src: at("nfcd.service"), Dst: UnitPath, FileInfo: &nfpmFileInfo{Mode: 0o644}},
			{Src: at("sysusers.conf"), Dst: SysusersPath, FileInfo: &nfpmFileInfo{Mode: 0o644}},
			{Src: at("polkit.rules"), Dst: PolkitPath, FileInfo: &nfpmFileInfo{Mode: 0o644}},
			// A conffile: dpkg keeps the administrator's edits on upgrade.
			{Src: at("nfcd.toml"), Dst: ConfigPath, Type: "config|noreplace", FileInfo: &nfpmFileInfo{Mode: 0o640}},
			{Src: at("blacklist-nfc.conf"), Dst: BlacklistPath, FileInfo: &nfpmFileInfo{Mode: 0o644}},
		},
		Scripts: map[string]string{
			"postinstall": at("postinst"),
			"preremove":   at("prerm"),
			"postremove":  at("postrm"),
		},
		// Files dated at the commit: the same commit builds the same package.
		MTime: d.Date,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	path := at("nfpm.yaml")
	return path, os.WriteFile(path, b, 0o644)
}

// Build stages the package in a temporary directory, runs nfpm and returns
// the path of the .deb in OutDir.
func (d Deb) Build(ctx context.Context) (string, error) {
	stage, err := os.MkdirTemp("", "nfcd-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	cfg, err := d.Stage(stage)
	if err != nil {
		return "", err
	}
	out, err := filepath.Abs(d.OutDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	nfpm := d.NFPM
	if len(nfpm) == 0 {
		nfpm = NFPMCommand
	}
	args := append(append([]string(nil), nfpm[1:]...), "package", "--config", cfg, "--packager", "deb", "--target", out)
	cmd := exec.CommandContext(ctx, nfpm[0], args...)
	cmd.Dir = stage
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("dist: nfpm: %w\n%s", err, stderr.Bytes())
	}
	arch := d.Arch
	if arch == "" {
		arch = "amd64"
	}
	path := filepath.Join(out, fmt.Sprintf("nfcd_%s_%s.deb", DebVersion(d.Version, d.Date), arch))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("dist: nfpm wrote no %s:\n%s", filepath.Base(path), stderr.Bytes())
	}
	return path, nil
}
