package station

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
	"github.com/nfcd/nfcd/internal/ws"
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

type recordPub struct {
	mu     sync.Mutex
	events []any
}

func (p *recordPub) Publish(typ string, payload any) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, payload)
	return uint64(len(p.events))
}

// An upload that stalls is dropped after uploadIdle: its bytes are freed
// and its progress ends with upload_expired.
func TestUploadExpires(t *testing.T) {
	fake := legitmarktest.New(legitmarktest.Options{})
	c, err := legitmark.New(legitmark.Config{BaseURL: "https://api.legitmark.test", IntentURL: "https://media.legitmark.test/intent",
		APIKey: legitmarktest.DefaultKey}, legitmark.Options{HTTPClient: &http.Client{Transport: fake.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pub := &recordPub{}
	s, err := New(Options{Workflow: legitmark.NewWorkflow(c, &legitmark.MemJournal{}, nil), Publisher: pub, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	sr, err := c.CreateSR(context.Background(), legitmark.CreateSR{ReferenceID: "k-1", Category: legitmarktest.CategoryHandbags, Type: legitmarktest.TypeTote})
	if err != nil {
		t.Fatal(err)
	}
	side := legitmarktest.SideUUIDs(legitmarktest.CategoryHandbags, true)[0]
	p, _ := json.Marshal(map[string]any{"uuid": sr.UUID, "side": side, "size": 1 << 20})
	if _, err := s.handleUploadBegin(context.Background(), &ws.Request{Type: TypeUploadBegin, Payload: p}); err != nil {
		t.Fatal(err)
	}
	if s.uploads.buffered != 1<<20 || !s.uploads.busy(sr.UUID) {
		t.Fatalf("buffered %d, busy %v", s.uploads.buffered, s.uploads.busy(sr.UUID))
	}
	now = now.Add(uploadIdle - time.Second)
	s.uploads.sweep()
	if !s.uploads.busy(sr.UUID) {
		t.Fatal("dropped before uploadIdle")
	}
	now = now.Add(2 * time.Second)
	s.uploads.sweep()
	if s.uploads.buffered != 0 || s.uploads.busy(sr.UUID) {
		t.Errorf("after uploadIdle: buffered %d, busy %v", s.uploads.buffered, s.uploads.busy(sr.UUID))
	}
	last := pub.events[len(pub.events)-1].(progressEvent)
	if last.Stage != StageFailed || last.Code != CodeUploadExpired || last.Message == "" {
		t.Errorf("last event %+v", last)
	}
}
