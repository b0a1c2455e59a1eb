package token

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func tempPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "state", "tokens.json")
}

func TestCreateListCheckRevoke(t *testing.T) {
	path := tempPath(t)
	s := Open(path)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }

	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Fatalf("List on missing file = %v, %v; want empty, nil", l, err)
	}
	if name, ok := s.Check("nfcd_x"); ok || name != "" {
		t.Fatalf("Check on missing file = %q, %v; want rejection", name, ok)
	}

	pos, err := s.Create("pos-1")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(pos, Prefix))
	if !strings.HasPrefix(pos, Prefix) || err != nil || len(raw) != 32 {
		t.Errorf("token %q: want %q + base64url of 32 bytes", pos, Prefix)
	}
	kiosk, err := s.Create("kiosk.A_2")
	if err != nil {
		t.Fatal(err)
	}
	if pos == kiosk {
		t.Fatal("two Creates returned the same token")
	}
	if _, err := s.Create("pos-1"); !errors.Is(err, ErrExists) {
		t.Errorf("Create(duplicate) = %v, want ErrExists", err)
	}

	l, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{{"kiosk.A_2", kiosk[:12], now}, {"pos-1", pos[:12], now}}
	if len(l) != len(want) {
		t.Fatalf("List = %+v, want %+v", l, want)
	}
	for i := range want {
		if l[i].Name != want[i].Name || l[i].ID != want[i].ID || !l[i].Created.Equal(want[i].Created) {
			t.Errorf("List[%d] = %+v, want %+v", i, l[i], want[i])
		}
	}

	checks := []struct {
		token, name string
		ok          bool
	}{
		{pos, "pos-1", true},
		{kiosk, "kiosk.A_2", true},
		{pos + "x", "", false},
		{pos[:len(pos)-1], "", false},
		{strings.ToUpper(pos), "", false},
		{"", "", false},
		{pos[:12], "", false},
	}
	for _, c := range checks {
		if name, ok := s.Check(c.token); name != c.name || ok != c.ok {
			t.Errorf("Check(%.14q…) = %q, %v; want %q, %v", c.token, name, ok, c.name, c.ok)
		}
	}

	if err := s.Revoke("pos-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke("pos-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke(revoked) = %v, want ErrNotFound", err)
	}
	if _, ok := s.Check(pos); ok {
		t.Error("Check(revoked token) = ok")
	}
	if name, ok := s.Check(kiosk); !ok || name != "kiosk.A_2" {
		t.Errorf("Check(kept token) = %q, %v", name, ok)
	}
	// The name is free again, and a new token is issued under it.
	again, err := s.Create("pos-1")
	if err != nil || again == pos {
		t.Fatalf("Create(reused name) = %q, %v", again, err)
	}
	if _, ok := s.Check(pos); ok {
		t.Error("old token accepted after its name was reused")
	}
}

func TestInvalidNames(t *testing.T) {
	s := Open(tempPath(t))
	for _, name := range []string{"", strings.Repeat("a", 65), "a b", "a/b", "é", "a\x00", "a:b", "../x"} {
		if _, err := s.Create(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Create(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	if _, err := s.Create(strings.Repeat("a", 64)); err != nil {
		t.Errorf("Create(64-char name) = %v, want nil", err)
	}
}

func TestRandFailure(t *testing.T) {
	s := Open(tempPath(t))
	s.rand = bytes.NewReader(make([]byte, 10))
	if tok, err := s.Create("x"); err == nil || tok != "" {
		t.Errorf("Create with short rand = %q, %v; want error", tok, err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written after failed Create: %v", err)
	}
}

// TestFileHoldsNoToken checks that only hashes reach the disk: neither the
// token nor its secret part after the display ID appears in the file.
func TestFileHoldsNoToken(t *testing.T) {
	s := Open(tempPath(t))
	var toks []string
	for i := range 5 {
		tok, err := s.Create(fmt.Sprintf("t%d", i))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	b, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		secret := tok[IDLen:]
		for _, needle := range []string{tok, secret, secret[:16], secret[len(secret)-16:]} {
			if bytes.Contains(b, []byte(needle)) {
				t.Errorf("token file contains part of a token (%d chars)", len(needle))
			}
		}
	}
}

func TestPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits")
	}
	s := Open(tempPath(t))
	if _, err := s.Create("a"); err != nil {
		t.Fatal(err)
	}
	// A pre-existing file with loose permissions is replaced by a 0600 one.
	if err := os.Chmod(s.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("b"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{s.Path(): 0o600, s.Path() + ".lock": 0o600, filepath.Dir(s.Path()): 0o700 | os.ModeDir} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != want {
			t.Errorf("mode of %s = %v, want %v", filepath.Base(path), got, want)
		}
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(s.Path()))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("leftover temporary file %s", e.Name())
		}
	}
}

// TestSecondInstance simulates the daemon (d) and the CLI (cli) sharing the
// file: d sees tokens the CLI creates and revokes without reopening.
func TestSecondInstance(t *testing.T) {
	path := tempPath(t)
	d, cli := Open(path), Open(path)
	if _, ok := d.Check("nfcd_nothing"); ok {
		t.Fatal("Check on missing file = ok")
	}
	tok, err := cli.Create("pos")
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := d.Check(tok); !ok || name != "pos" {
		t.Fatalf("daemon Check(token created by CLI) = %q, %v; want pos, true", name, ok)
	}
	// Revoke and create in quick succession: the file size stays the same
	// and the mtime may too on a coarse clock; the new inode still tells.
	if err := cli.Revoke("pos"); err != nil {
		t.Fatal(err)
	}
	tok2, err := cli.Create("pos")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Check(tok); ok {
		t.Error("daemon still accepts a token revoked by the CLI")
	}
	if name, ok := d.Check(tok2); !ok || name != "pos" {
		t.Errorf("daemon Check(recreated token) = %q, %v", name, ok)
	}
	if err := cli.Revoke("pos"); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Check(tok2); ok {
		t.Error("daemon still accepts a revoked token")
	}
	// Deleting the file revokes everything.
	tok3, _ := cli.Create("x")
	if _, ok := d.Check(tok3); !ok {
		t.Fatal("daemon rejects new token")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Check(tok3); ok {
		t.Error("daemon accepts a token after the file was deleted")
	}
}

// TestCheckCaches checks that an unchanged file is not reread: a file
// changed behind the Store's back with the same size, mtime and inode is not
// noticed (writers never do that; they replace the file).
func TestCheckCaches(t *testing.T) {
	s := Open(tempPath(t))
	tok, err := s.Create("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Check(tok); !ok {
		t.Fatal("Check = false")
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(s.Path())
	// Overwrite in place with same-length garbage and restore the mtime.
	if err := os.WriteFile(s.Path(), bytes.Repeat([]byte{' '}, len(b)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(s.Path(), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Check(tok); !ok {
		t.Error("Check reread an unchanged-looking file")
	}
	// Touching the mtime makes it reread, find it corrupt and fail closed.
	if err := os.Chtimes(s.Path(), fi.ModTime().Add(time.Second), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Check(tok); ok {
		t.Error("Check accepted a token from a corrupt file")
	}
}

// TestConcurrentCreates runs creates from several Store instances at once;
// the lock must keep every entry.
func TestConcurrentCreates(t *testing.T) {
	path := tempPath(t)
	const instances, each = 4, 15
	var wg sync.WaitGroup
	toks := make([][]string, instances)
	errs := make(chan error, instances*each)
	for i := range instances {
		s := Open(path)
		wg.Go(func() {
			for j := range each {
				tok, err := s.Create(fmt.Sprintf("i%d-%d", i, j))
				if err != nil {
					errs <- err
					return
				}
				toks[i] = append(toks[i], tok)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l, err := Open(path).List()
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != instances*each {
		t.Fatalf("List has %d tokens after %d concurrent creates", len(l), instances*each)
	}
	d := Open(path)
	for i := range instances {
		for j, tok := range toks[i] {
			if name, ok := d.Check(tok); !ok || name != fmt.Sprintf("i%d-%d", i, j) {
				t.Errorf("Check(token %d/%d) = %q, %v", i, j, name, ok)
			}
		}
	}
}

func TestCorruptFile(t *testing.T) {
	const hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	secret := "SECRETCONTENT"
	tests := []struct {
		name, content, reason string
	}{
		{"not json", "{" + secret, "invalid JSON"},
		{"wrong type", `{"version":1,"tokens":"` + secret + `"}`, "not a token file"},
		{"bad time", `{"version":1,"tokens":[{"name":"a","id":"nfcd_abcdefg","sha256":"` + hash + `","created":"` + secret + `"}]}`, "not a token file"},
		{"version", `{"version":2,"tokens":[]}`, "unsupported version"},
		{"no version", `{"tokens":[]}`, "unsupported version"},
		{"bad name", `{"version":1,"tokens":[{"name":"a b` + secret + `","id":"nfcd_abcdefg","sha256":"` + hash + `"}]}`, "invalid name"},
		{"duplicate", `{"version":1,"tokens":[{"name":"a","id":"nfcd_abcdefg","sha256":"` + hash + `"},{"name":"a","id":"nfcd_abcdefg","sha256":"` + hash + `"}]}`, "duplicate name"},
		{"bad id", `{"version":1,"tokens":[{"name":"a","id":"` + secret + `","sha256":"` + hash + `"}]}`, "invalid id"},
		{"short hash", `{"version":1,"tokens":[{"name":"a","id":"nfcd_abcdefg","sha256":"` + hash[:62] + `"}]}`, "invalid hash"},
		{"upper hash", `{"version":1,"tokens":[{"name":"a","id":"nfcd_abcdefg","sha256":"` + strings.ToUpper(hash) + `"}]}`, "invalid hash"},
		{"too large", `{"version":1,"tokens":[]}` + strings.Repeat(" ", maxFileSize), "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s := Open(path)
			_, err := s.List()
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Path != path || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("List(%s) = %v; want CorruptError naming %s with %q", tc.name, err, path, tc.reason)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), hash[:16]) {
				t.Errorf("error quotes the file content: %v", err)
			}
			// Writes refuse to clobber a corrupt file.
			if _, err := s.Create("new"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Create on corrupt file = %v, want ErrCorrupt", err)
			}
			if err := s.Revoke("a"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Revoke on corrupt file = %v, want ErrCorrupt", err)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Error("corrupt file was rewritten")
			}
			if _, ok := s.Check("nfcd_abcdefg"); ok {
				t.Error("Check on corrupt file = ok")
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	s := Open(filepath.Join(b.TempDir(), "tokens.json"))
	var tok string
	for i := range 10 {
		t, err := s.Create(fmt.Sprintf("t%d", i))
		if err != nil {
			b.Fatal(err)
		}
		tok = t
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Check(tok); !ok {
			b.Fatal("Check = false")
		}
	}
}

// TestErrorText: errors name the package and the token once, and say what
// a valid name is.
func TestErrorText(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "tokens.json"))
	if _, err := s.Create("pos-1"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Create("pos-1")
	if got, want := fmt.Sprint(err), `token: create "pos-1": name already exists`; got != want {
		t.Errorf("Create(duplicate) = %q, want %q", got, want)
	}
	err = s.Revoke("pos-2")
	if got, want := fmt.Sprint(err), `token: revoke "pos-2": no token with that name`; got != want {
		t.Errorf("Revoke(unknown) = %q, want %q", got, want)
	}
	_, err = s.Create("pos 1")
	if got := fmt.Sprint(err); strings.Count(got, "token:") != 1 || !strings.Contains(got, "letters, digits") {
		t.Errorf("Create(bad name) = %q, want one \"token:\" and the rule for names", got)
	}
}
