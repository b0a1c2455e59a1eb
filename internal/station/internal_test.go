package station

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/legitmark"
)

func TestULID(t *testing.T) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 456e6, time.UTC)
	zero := bytes.NewReader(make([]byte, 10))
	id, err := newULID(at, zero)
	if err != nil {
		t.Fatal(err)
	}
	// 48-bit milliseconds, then 80 zero bits.
	if len(id) != 26 || !strings.HasSuffix(id, "0000000000000000") || strings.Trim(id, crockford) != "" {
		t.Errorf("ULID %q", id)
	}
	var ids []string
	for i := range 50 {
		id, err := newULID(at.Add(time.Duration(i)*time.Millisecond), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("ULIDs of increasing times do not sort")
	}
	if _, err := newULID(at, bytes.NewReader(nil)); err == nil {
		t.Error("no error from an empty random source")
	}
}

// The actor token file is written 0600 and replaced atomically; a file
// others can read is refused.
func TestTokenFile(t *testing.T) {
	ctx := context.Background()
	f := TokenFile{Path: filepath.Join(t.TempDir(), "state", "legitmark-user-token")}
	if tok, err := f.LoadUserToken(ctx); err != nil || tok != "" {
		t.Fatalf("missing file = %q, %v", tok, err)
	}
	if err := f.SaveUserToken(ctx, "lm_usr_0123456789ab"); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveUserToken(ctx, "lm_usr_ba9876543210"); err != nil {
		t.Fatal(err)
	}
	tok, err := f.LoadUserToken(ctx)
	if err != nil || tok.Reveal() != "lm_usr_ba9876543210" {
		t.Fatalf("Load = %v, %v", tok, err)
	}
	es, _ := os.ReadDir(filepath.Dir(f.Path))
	if len(es) != 1 {
		t.Errorf("%d files in the directory, want just the token file", len(es))
	}
	if runtime.GOOS == "windows" {
		return
	}
	fi, _ := os.Stat(f.Path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	os.Chmod(f.Path, 0o644)
	if _, err := f.LoadUserToken(ctx); err == nil || strings.Contains(err.Error(), "lm_usr_") {
		t.Errorf("a world-readable token file: %v", err)
	}
}

// Guide links are only made for images on the allowed hosts, and the
// handler fetches only what it linked.
func TestMediaLinks(t *testing.T) {
	m := newMedia(legitmark.Config{BaseURL: "https://proxy.example", IntentURL: "https://media.legitmark.com/intent"}, nil, rand.Reader, zap.NewNop())
	for raw, ok := range map[string]bool{
		"https://cdn.legitmark.com/overlay/front.png":    true,
		"https://proxy.example/media/overlay/front.png":  true,
		"https://evil.example/overlay.png":               false,
		"http://cdn.legitmark.com/overlay/front.png":     false, // plain http off loopback
		"https://user:pw@cdn.legitmark.com/o.png":        false,
		"file:///etc/passwd":                             false,
		"":                                               false,
		"https://cdn.legitmark.com.evil.example/o.png":   false,
		"https://CDN.LEGITMARK.COM/overlay/shouting.png": true,
	} {
		l := m.link(raw)
		if (l != "") != ok || (ok && !strings.HasPrefix(l, MediaPath)) {
			t.Errorf("link(%q) = %q, want allowed %v", raw, l, ok)
		}
	}
	a, b := m.link("https://cdn.legitmark.com/a.png"), m.link("https://cdn.legitmark.com/a.png")
	if a != b {
		t.Errorf("the same image got two links: %s %s", a, b)
	}
}
