// Package doctor explains the machine nfcd runs on: each finding says what
// is wrong (or right) and how to fix it, for `nfcd doctor` and its --json
// document
//
//	{"findings":[{"id":"pcscd.socket_inactive","severity":"error","message":"…","fix":"…"}]}
//
// The environment is read through Probes, so that tests can fake every
// machine: pcscd missing, stopped or refusing the service account, no
// readers, the kernel's pn533 driver holding an ACR122U, SCardSvr stopped
// or disabled, the port taken, a broken configuration, a state directory
// with the wrong owner, a skewed clock, and the browser's Local Network
// Access rules for pages from other origins. System returns the probes of
// this machine.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Severity ranks a finding.
type Severity string

// Severities, from good to bad.
const (
	OK      Severity = "ok"
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
)

func (s Severity) rank() int {
	return slices.Index([]Severity{OK, Info, Warning, Error}, s)
}

// Finding is one diagnosis. ID is stable ("area.condition") for scripts;
// Message and Fix are for people.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

// Report is the result of Run.
type Report struct {
	Findings []Finding `json:"findings"`
}

// Worst returns the most severe finding's severity (OK when empty).
func (r Report) Worst() Severity {
	w := OK
	for _, f := range r.Findings {
		if f.Severity.rank() > w.rank() {
			w = f.Severity
		}
	}
	return w
}

// Find returns the finding with id.
func (r Report) Find(id string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return Finding{}, false
}

// WriteJSON writes the report as one JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a terminal, worst findings first.
func (r Report) WriteText(w io.Writer) error {
	fs := slices.Clone(r.Findings)
	slices.SortStableFunc(fs, func(a, b Finding) int { return b.Severity.rank() - a.Severity.rank() })
	for _, f := range fs {
		if _, err := fmt.Fprintf(w, "%-7s %s\n", strings.ToUpper(string(f.Severity)), f.Message); err != nil {
			return err
		}
		if f.Fix != "" {
			for i, line := range strings.Split(f.Fix, "\n") {
				lead := "        fix: "
				if i > 0 {
					lead = "             "
				}
				if _, err := fmt.Fprintln(w, lead+line); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Options says what to check.
type Options struct {
	// GOOS selects the platform checks ("linux", "windows").
	GOOS string
	// ConfigFile is the configuration the daemon uses; "" for none.
	ConfigFile string
	// StateDir is the daemon's state directory.
	StateDir string
	// Listen overrides the configuration's listen address.
	Listen string
	// ServiceUser is the Linux account the service runs as; "" for root.
	ServiceUser string
	// RemoteURL is a remote API whose Date header shows clock skew; "" to
	// skip the check.
	RemoteURL string
	// ProbeTimeout bounds each probe; 0 means 5 s.
	ProbeTimeout time.Duration
}

// Errors a Probes.Readers implementation wraps so that the advice fits.
var (
	// ErrNoService: the PC/SC service is not running or not reachable.
	ErrNoService = errors.New("doctor: PC/SC service unavailable")
	// ErrDenied: the PC/SC service refused this account (polkit).
	ErrDenied = errors.New("doctor: PC/SC access denied")
)

// PCSCD is pcscd on Linux.
type PCSCD struct {
	Installed     bool
	Running       bool // a pcscd process exists
	Systemd       bool // systemd is the init system
	SocketActive  bool // pcscd.socket is listening
	SocketEnabled bool // pcscd.socket starts at boot
	Polkit        bool // this pcscd asks polkit (its policy file is installed)
	PolkitRule    bool // a polkit rule grants access_pcsc
}

// WindowsService is a Windows service's state.
type WindowsService struct {
	Exists    bool
	Running   bool
	StartType string // "auto", "demand", "disabled"
}

// USBDevice is an attached USB device.
type USBDevice struct{ Vendor, Product uint16 }

// PortState is what holds the listen address.
type PortState int

// Port states.
const (
	PortFree  PortState = iota
	PortNfcd            // a running nfcd answers its health check there
	PortOther           // something else listens there
)

// ConfigInfo is what doctor needs of the configuration file.
type ConfigInfo struct {
	Exists         bool
	Mode           fs.FileMode
	Errors         []error // every problem, with line and key, never key material
	HoldsKeys      bool    // tag keys written inline
	Listen         string
	AllowedOrigins []string
}

// DirInfo is a directory's state.
type DirInfo struct {
	Exists bool
	IsDir  bool
	Mode   fs.FileMode
	Owner  string // user name; "" where unknown (Windows)
}

// Probes read the environment.
type Probes interface {
	PCSCD(ctx context.Context) (PCSCD, error)
	SmartCardService(ctx context.Context) (WindowsService, error)
	// Readers lists the PC/SC readers; errors wrap ErrNoService or
	// ErrDenied where they apply.
	Readers(ctx context.Context) ([]string, error)
	KernelModules() ([]string, error)
	USBDevices() ([]USBDevice, error)
	Listen(ctx context.Context, addr string) (PortState, error)
	Config(path string) ConfigInfo
	Dir(path string) (DirInfo, error)
	// RemoteDate returns the remote's Date header and the local time it
	// was sent at.
	RemoteDate(ctx context.Context, url string) (remote, local time.Time, err error)
}

// DefaultListen is the daemon's default address (config.DefaultListen).
const DefaultListen = "127.0.0.1:7424"

// Run checks everything and returns the findings in a fixed order.
func Run(ctx context.Context, p Probes, o Options) Report {
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 5 * time.Second
	}
	c := &checker{ctx: ctx, p: p, o: o}
	cfg := c.config()
	switch o.GOOS {
	case "linux":
		c.pcscd()
	case "windows":
		c.smartCardService()
	}
	c.readers()
	if o.GOOS == "linux" {
		c.kernel()
	}
	listen := o.Listen
	if listen == "" {
		listen = cfg.Listen
	}
	if listen == "" {
		listen = DefaultListen
	}
	c.port(listen)
	c.stateDir()
	c.clock()
	c.browsers(listen, cfg.AllowedOrigins)
	return Report{Findings: c.findings}
}

type checker struct {
	ctx      context.Context
	p        Probes
	o        Options
	findings []Finding
}

func (c *checker) add(id string, s Severity, fix, format string, a ...any) {
	c.findings = append(c.findings, Finding{ID: id, Severity: s, Message: fmt.Sprintf(format, a...), Fix: fix})
}

func (c *checker) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, c.o.ProbeTimeout)
}

func (c *checker) config() ConfigInfo {
	path := c.o.ConfigFile
	if path == "" {
		c.add("config.none", Info, "", "No configuration file: nfcd runs on its defaults (no tag profiles, loopback only).")
		return ConfigInfo{}
	}
	ci := c.p.Config(path)
	if !ci.Exists {
		c.add("config.missing", Error, "Create it from the commented example: nfcd config example > "+path,
			"The configuration file %s does not exist.", path)
		return ci
	}
	for _, err := range ci.Errors {
		c.add("config.invalid", Error, "Correct it, then check again: nfcd config check "+path, "%v", err)
	}
	if len(ci.Errors) == 0 {
		c.add("config.ok", OK, "", "The configuration %s is valid.", path)
	}
	if ci.HoldsKeys && c.o.GOOS != "windows" && ci.Mode&0o004 != 0 {
		group := "root"
		if c.o.ServiceUser != "" {
			group = c.o.ServiceUser
		}
		c.add("config.readable", Warning,
			fmt.Sprintf("sudo chown root:%s %s && sudo chmod 640 %s", group, path, path),
			"%s holds tag keys and every user can read it (mode %04o).", path, ci.Mode.Perm())
	}
	return ci
}

func (c *checker) pcscd() {
	ctx, cancel := c.timeout()
	defer cancel()
	s, err := c.p.PCSCD(ctx)
	switch {
	case err != nil:
		c.add("pcscd.unknown", Warning, "", "Could not check pcscd: %v.", err)
		return
	case !s.Installed:
		c.add("pcscd.missing", Error,
			"sudo apt-get install pcscd   (Debian, Ubuntu)\nsudo dnf install pcsc-lite   (Fedora)",
			"pcscd, the PC/SC daemon that talks to the readers, is not installed.")
		return
	case s.Systemd && !s.SocketActive && !s.Running:
		c.add("pcscd.socket_inactive", Error, "sudo systemctl enable --now pcscd.socket",
			"pcscd.socket is not active, so nothing starts pcscd when nfcd connects.")
	case !s.Systemd && !s.Running:
		c.add("pcscd.not_running", Error, "Start it with your init system, or in a container: pcscd --foreground &",
			"pcscd is not running, and without systemd nothing starts it on demand.")
	case s.Systemd && !s.SocketEnabled:
		c.add("pcscd.socket_disabled", Warning, "sudo systemctl enable pcscd.socket",
			"pcscd.socket is not enabled: after a reboot nothing will start pcscd.")
	case s.Running:
		c.add("pcscd.ok", OK, "", "pcscd is installed and running.")
	default:
		c.add("pcscd.ok", OK, "", "pcscd is installed and starts on demand (pcscd.socket).")
	}
	if s.Polkit && !s.PolkitRule && c.o.ServiceUser != "" {
		c.add("pcscd.polkit", Error,
			"Install the rule from docs/service.md as /etc/polkit-1/rules.d/60-nfcd-pcsc.rules\n(the nfcd package installs it in /usr/share/polkit-1/rules.d/).",
			"This pcscd asks polkit, and no rule lets the %s account use readers: the service will find no PC/SC service (journal: \"NOT authorized for action: access_pcsc\").",
			c.o.ServiceUser)
	}
}

func (c *checker) smartCardService() {
	ctx, cancel := c.timeout()
	defer cancel()
	s, err := c.p.SmartCardService(ctx)
	switch {
	case err != nil:
		c.add("scardsvr.unknown", Warning, "", "Could not query the Smart Card service (SCardSvr): %v.", err)
	case !s.Exists:
		c.add("scardsvr.missing", Error, "", "The Smart Card service (SCardSvr) is not installed; Windows editions without it cannot use PC/SC readers.")
	case s.StartType == "disabled":
		c.add("scardsvr.disabled", Error, "As administrator: sc config SCardSvr start= demand && sc start SCardSvr",
			"The Smart Card service (SCardSvr) is disabled: nfcd depends on it and its service will not start (error 1068).")
	case !s.Running:
		c.add("scardsvr.stopped", Warning, "Plug in the reader, or as administrator: sc start SCardSvr",
			"The Smart Card service (SCardSvr) is stopped. Windows starts it when a reader is plugged in and may stop it when the last is removed; nfcd waits for it.")
	default:
		c.add("scardsvr.ok", OK, "", "The Smart Card service (SCardSvr) is running.")
	}
}

func (c *checker) readers() {
	ctx, cancel := c.timeout()
	defer cancel()
	names, err := c.p.Readers(ctx)
	switch {
	case errors.Is(err, ErrDenied):
		c.add("readers.denied", Error, "See pcscd.polkit; run nfcd doctor as the service account to check its access.",
			"The PC/SC service refused this account.")
	case errors.Is(err, ErrNoService):
		fix := "See the pcscd findings."
		if c.o.GOOS == "windows" {
			fix = "Plug in a reader: Windows starts the Smart Card service for it."
		}
		c.add("readers.no_service", Error, fix, "The PC/SC service cannot be reached, so no reader can be listed.")
	case err != nil:
		c.add("readers.error", Error, "", "Listing readers failed: %v.", err)
	case len(names) == 0:
		fix := "Plug in a reader. If it is plugged in: lsusb should list it, and its driver must know it\n" +
			"(the ACS ACR1552U needs libccid 1.5.3 or later, or ACS's acsccid); pcscd -f -d logs the driver lookup."
		if c.o.GOOS == "windows" {
			fix = "Plug in a reader; Device Manager lists it under \"Smart card readers\" when its driver is installed."
		}
		c.add("readers.none", Warning, fix, "No smart-card reader is connected.")
	default:
		c.add("readers.ok", OK, "", "%d reader(s): %s.", len(names), strings.Join(names, ", "))
	}
}

// ACR122U is the ACS ACR122U's USB ID, the reader the kernel's pn533_usb
// driver claims.
var ACR122U = USBDevice{Vendor: 0x072F, Product: 0x2200}

func (c *checker) kernel() {
	mods, err := c.p.KernelModules()
	if err != nil {
		return
	}
	var loaded []string
	for _, m := range mods {
		if m == "pn533_usb" || m == "pn533" {
			loaded = append(loaded, m)
		}
	}
	if len(loaded) == 0 {
		return
	}
	fix := "sudo modprobe -r pn533_usb pn533 nfc\n" +
		"printf 'blacklist pn533_usb\\nblacklist pn533\\nblacklist nfc\\n' | sudo tee /etc/modprobe.d/blacklist-nfc.conf\n" +
		"then unplug and replug the reader."
	devs, _ := c.p.USBDevices()
	if slices.Contains(devs, ACR122U) {
		c.add("kernel.pn533", Error, fix,
			"The kernel's NFC driver (%s) holds the ACS ACR122U, so pcscd cannot claim it (LIBUSB_ERROR_BUSY).", strings.Join(loaded, ", "))
		return
	}
	c.add("kernel.pn533", Warning, fix,
		"The kernel's NFC driver (%s) is loaded: it takes ACS ACR122U readers away from pcscd when one is plugged in.", strings.Join(loaded, ", "))
}

func (c *checker) port(addr string) {
	ctx, cancel := c.timeout()
	defer cancel()
	st, err := c.p.Listen(ctx, addr)
	_, port, _ := net.SplitHostPort(addr)
	find := "Find it with: ss -ltnp 'sport = :" + port + "'"
	if c.o.GOOS == "windows" {
		find = "Find it with: netstat -abno | findstr :" + port
	}
	switch {
	case err != nil:
		c.add("listen.error", Error, "Set listen = \"127.0.0.1:PORT\" in the configuration.", "Cannot listen on %s: %v.", addr, err)
	case st == PortNfcd:
		c.add("listen.nfcd", Info, "", "nfcd is already running on %s.", addr)
	case st == PortOther:
		c.add("listen.in_use", Error, find+"\nthen stop it, or give nfcd another port: listen = \"127.0.0.1:PORT\".",
			"%s is in use by another program.", addr)
	default:
		c.add("listen.ok", OK, "", "%s is free for nfcd.", addr)
	}
}

func (c *checker) stateDir() {
	dir := c.o.StateDir
	if dir == "" {
		return
	}
	d, err := c.p.Dir(dir)
	switch {
	case err != nil:
		c.add("state.unknown", Warning, "", "Cannot inspect the state directory %s: %v.", dir, err)
		return
	case !d.Exists:
		c.add("state.missing", Info, "", "The state directory %s does not exist yet; nfcd creates it on first start.", dir)
		return
	case !d.IsDir:
		c.add("state.not_dir", Error, "Move it away or pass another --state-dir.", "%s is not a directory.", dir)
		return
	}
	problem := false
	if c.o.GOOS != "windows" {
		if want := c.o.ServiceUser; want != "" && d.Owner != "" && d.Owner != want {
			problem = true
			c.add("state.owner", Error, fmt.Sprintf("sudo chown -R %s:%s %s", want, want, dir),
				"The state directory %s belongs to %s, but the service runs as %s and cannot write it.", dir, d.Owner, want)
		}
		if d.Mode.Perm()&0o077 != 0 {
			problem = true
			c.add("state.permissions", Warning, "sudo chmod 700 "+dir,
				"The state directory %s is open to other users (mode %04o); it holds the signing key and the API tokens.", dir, d.Mode.Perm())
		}
	}
	if !problem {
		c.add("state.ok", OK, "", "The state directory %s is in order.", dir)
	}
}

// Clock skew limits: signed verdicts and remote requests carry times.
const (
	SkewWarning = 30 * time.Second
	SkewError   = 5 * time.Minute
)

func (c *checker) clock() {
	if c.o.RemoteURL == "" {
		return
	}
	ctx, cancel := c.timeout()
	defer cancel()
	remote, local, err := c.p.RemoteDate(ctx, c.o.RemoteURL)
	if err != nil {
		c.add("remote.unreachable", Warning, "Check the network, the proxy and the firewall.",
			"Cannot reach %s: %v.", c.o.RemoteURL, err)
		return
	}
	skew := local.Sub(remote)
	abs := skew.Abs()
	fix := "Turn on time synchronisation: sudo timedatectl set-ntp true"
	if c.o.GOOS == "windows" {
		fix = "Resynchronise the clock as administrator: w32tm /resync"
	}
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	// The Date header has whole seconds.
	switch rounded := abs.Round(time.Second); {
	case abs >= SkewError:
		c.add("clock.skew", Error, fix, "This clock is %s %s %s: signed verdicts carry wrong times and remote requests may be refused.", rounded, dir, c.o.RemoteURL)
	case abs >= SkewWarning:
		c.add("clock.skew", Warning, fix, "This clock is %s %s %s.", rounded, dir, c.o.RemoteURL)
	default:
		c.add("clock.ok", OK, "", "The clock agrees with %s.", c.o.RemoteURL)
	}
}

func (c *checker) browsers(listen string, origins []string) {
	ws := "ws://" + listen
	if len(origins) == 0 {
		c.add("browser.local_only", Info,
			"To let pages from another origin connect, list it in allowed_origins.",
			"Only nfcd's own pages (http://%s/) can connect; they need no browser permission.", listen)
		return
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" {
			continue // the configuration check reports it
		}
		if isLoopback(u.Hostname()) {
			continue // same address space: Local Network Access does not apply
		}
		if u.Scheme != "https" {
			c.add("browser.insecure_origin", Warning,
				"Serve the page over https, or from nfcd itself.",
				"Pages from %s are not a secure context: Chrome and Edge block their connections to %s without asking (Local Network Access).", o, ws)
			continue
		}
		c.add("browser.lna", Info,
			fmt.Sprintf("Managed Chrome/Edge kiosks: policy LocalNetworkAccessAllowedForUrls = [%q].\n"+
				"Firefox: policy LocalNetworkAccess.SkipDomains. In an iframe: allow=\"loopback-network\".", o),
			"Pages from %s reach %s across Local Network Access (Chrome 142 and later; WebSockets from Chrome 147): the browser asks the user once, which an unattended kiosk cannot answer.", o, ws)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
