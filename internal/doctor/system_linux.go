package doctor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// PCSCD looks for pcscd, its socket unit and its polkit policy.
func (s *System) PCSCD(ctx context.Context) (PCSCD, error) {
	var p PCSCD
	if _, err := exec.LookPath("pcscd"); err == nil {
		p.Installed = true
	} else if _, err := os.Stat("/usr/sbin/pcscd"); err == nil {
		p.Installed = true // not on a non-root PATH
	}
	p.Running = processRunning("pcscd")
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		p.Systemd = true
		p.SocketActive = systemctl(ctx, "is-active", "pcscd.socket") == "active"
		switch systemctl(ctx, "is-enabled", "pcscd.socket") {
		case "enabled", "enabled-runtime", "static", "indirect", "alias":
			p.SocketEnabled = true
		}
	}
	// pcsc-lite built with polkit installs its actions' policy.
	if _, err := os.Stat("/usr/share/polkit-1/actions/org.debian.pcsc-lite.policy"); err == nil {
		p.Polkit = true
		p.PolkitRule = polkitRuleInstalled()
	}
	return p, nil
}

func systemctl(ctx context.Context, args ...string) string {
	out, _ := exec.CommandContext(ctx, "systemctl", args...).Output()
	return strings.TrimSpace(string(out))
}

// processRunning reports whether a process named name runs (/proc/N/comm).
func processRunning(name string) bool {
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, f := range dirs {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == name {
			return true
		}
	}
	return false
}

// polkitRuleInstalled reports whether some polkit rule mentions the
// access_pcsc action (ours or the administrator's).
func polkitRuleInstalled() bool {
	for _, dir := range []string{"/etc/polkit-1/rules.d", "/usr/share/polkit-1/rules.d"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.rules"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("org.debian.pcsc-lite.access_pcsc")) {
				return true
			}
		}
	}
	return false
}

// SmartCardService is Windows only.
func (s *System) SmartCardService(context.Context) (WindowsService, error) {
	return WindowsService{}, fmt.Errorf("doctor: SCardSvr: %w on %s", errors.ErrUnsupported, runtime.GOOS)
}

// KernelModules lists the loaded modules (/proc/modules).
func (s *System) KernelModules() ([]string, error) {
	f, err := os.Open("/proc/modules")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mods []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, _, ok := strings.Cut(sc.Text(), " "); ok {
			mods = append(mods, name)
		}
	}
	return mods, sc.Err()
}

// USBDevices lists the attached USB devices (/sys/bus/usb/devices).
func (s *System) USBDevices() ([]USBDevice, error) {
	vendors, err := filepath.Glob("/sys/bus/usb/devices/*/idVendor")
	if err != nil {
		return nil, err
	}
	var devs []USBDevice
	for _, v := range vendors {
		vb, err1 := os.ReadFile(v)
		pb, err2 := os.ReadFile(filepath.Join(filepath.Dir(v), "idProduct"))
		if err1 != nil || err2 != nil {
			continue
		}
		vid, err1 := strconv.ParseUint(strings.TrimSpace(string(vb)), 16, 16)
		pid, err2 := strconv.ParseUint(strings.TrimSpace(string(pb)), 16, 16)
		if err1 == nil && err2 == nil {
			devs = append(devs, USBDevice{Vendor: uint16(vid), Product: uint16(pid)})
		}
	}
	return devs, nil
}

func owner(st fs.FileInfo) string {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	id := strconv.FormatUint(uint64(sys.Uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}
