package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tlscert"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
)

// readingCommands are the commands that only read the state directory.
var readingCommands = [][]string{
	{"key", "show"},
	{"key", "show", "--json"},
	{"history"},
	{"history", "--json", "--uid", "04518DFAA96180"},
	{"token", "list"},
	{"token", "list", "--json"},
}

// makeState fills a state directory as a daemon that listened beyond
// loopback leaves it: store with an audit entry, verdict key, a token and
// the self-signed TLS certificate.
func makeState(t *testing.T, dir string) (fingerprint string) {
	t.Helper()
	p := statedir.PathsOf(dir)
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(p.DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Signer(st); err != nil {
		t.Fatal(err)
	}
	v := &verdict.Verdict{Reader: "r", UID: "04518DFAA96180", Ctr: ntag424.CounterOf(5), Verdict: verdict.Authentic, Reason: verdict.ReasonOK, Profile: "p", Time: time.Now()}
	if err := st.Record(context.Background(), []*verdict.Verdict{v}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := token.Open(p.Tokens).Create("pos-1"); err != nil {
		t.Fatal(err)
	}
	cert, _, err := tlscert.Ensure(p.TLS, p.TLSCert, tlscert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tlscert.Fingerprint(cert.Certificate[0])
}

// snapshot describes every file under dir: name, size and modification
// time.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[path] = fmt.Sprintf("%v %v %d", fi.Mode(), fi.ModTime(), fi.Size())
		return nil
	})
	return out
}

// TestReadingCommandsCreateState repeats issue 13 §5: `nfcd key show
// --state-dir /typo` (and history) created a store and printed a
// brand-new signing key, so an operator could pin a key the daemon never
// uses. Every reading command now fails with a clear message on a missing
// state directory and creates nothing; on an existing one it changes
// nothing.
func TestReadingCommandsCreateState(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "typo")
	for _, args := range readingCommands {
		_, _, err := runCLI(t, "", append(args, "--state-dir", typo)...)
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%v on a missing state dir: %v, want a clear error", args, err)
		}
		if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v created %s", args, typo)
		}
	}
	// An existing directory without a daemon's state yet.
	empty := t.TempDir()
	for _, args := range readingCommands[:4] {
		_, _, err := runCLI(t, "", append(args, "--state-dir", empty)...)
		if err == nil || !strings.Contains(err.Error(), "first starts") {
			t.Errorf("%v on an empty state dir: %v, want a clear error", args, err)
		}
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("reading commands created %v in an empty state dir", entries)
	}

	dir := filepath.Join(t.TempDir(), "state")
	fp := makeState(t, dir)
	before := snapshot(t, dir)
	for _, args := range readingCommands {
		out, _, err := runCLI(t, "", append(args, "--state-dir", dir)...)
		if err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if args[0] == "key" && !strings.Contains(out, fp) {
			t.Errorf("%v does not print the TLS fingerprint %s:\n%s", args, fp, out)
		}
	}
	if after := snapshot(t, dir); !equalMaps(before, after) {
		t.Errorf("reading commands changed the state dir:\nbefore %v\nafter  %v", before, after)
	}
	out, _, err := runCLI(t, "", "key", "show", "--json", "--state-dir", dir)
	var js map[string]string
	if err != nil || json.Unmarshal([]byte(out), &js) != nil || js["tls_sha256"] != fp || js["key_id"] == "" {
		t.Errorf("key show --json = %s, %v; want key_id and tls_sha256", out, err)
	}
}

// TestReadingCommandsOnReadOnlyMedia runs every reading command on a
// read-only mount of a state directory (a kiosk disk examined on another
// machine). It needs Linux and root for the bind mount.
func TestReadingCommandsOnReadOnlyMedia(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs Linux and root to mount a read-only bind mount")
	}
	src := filepath.Join(t.TempDir(), "state")
	fp := makeState(t, src)
	ro := t.TempDir()
	if out, err := exec.Command("mount", "--bind", src, ro).CombinedOutput(); err != nil {
		t.Skipf("bind mount: %v %s", err, out)
	}
	defer exec.Command("umount", ro).Run()
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", ro).CombinedOutput(); err != nil {
		t.Skipf("remount read-only: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(ro, "probe"), nil, 0o600); err == nil {
		t.Skip("the mount is writable after all")
	}
	for _, args := range readingCommands {
		out, _, err := runCLI(t, "", append(args, "--state-dir", ro)...)
		if err != nil {
			t.Errorf("%v on read-only media: %v", args, err)
		}
		if args[0] == "key" && !strings.Contains(out, fp) {
			t.Errorf("%v on read-only media lacks the fingerprint", args)
		}
		if args[0] == "history" && !strings.Contains(out, "04518DFAA96180") {
			t.Errorf("%v on read-only media: %s", args, out)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
