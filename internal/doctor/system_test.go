package doctor_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/doctor"
	"github.com/nfcd/nfcd/internal/health"
)

func TestSystemListen(t *testing.T) {
	ctx := context.Background()
	s := &doctor.System{}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if st, err := s.Listen(ctx, addr); err != nil || st != doctor.PortFree {
		t.Errorf("free port: %v, %v", st, err)
	}

	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	if st, err := s.Listen(ctx, other.Listener.Addr().String()); err != nil || st != doctor.PortOther {
		t.Errorf("port held by another server: %v, %v", st, err)
	}

	mux := http.NewServeMux()
	mux.Handle("/healthz", health.Handler(func(context.Context) health.Report { return health.Report{} }))
	nfcd := httptest.NewServer(mux)
	defer nfcd.Close()
	// A daemon without readers answers 503: still nfcd.
	if st, err := s.Listen(ctx, nfcd.Listener.Addr().String()); err != nil || st != doctor.PortNfcd {
		t.Errorf("port held by nfcd: %v, %v", st, err)
	}
}

func TestSystemConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(`listen = "127.0.0.1:7500"
allowed_origins = ["https://pos.example"]

[[profile]]
name = "store"
match = "https://sdm.example/tag"
mode = "enc"
sdm_file_read_key = "00000000000000000000000000000000"
sdm_meta_read_key = "00000000000000000000000000000000"
`), 0o644)
	s := &doctor.System{}
	ci := s.Config(good)
	if !ci.Exists || len(ci.Errors) != 0 || !ci.HoldsKeys || ci.Listen != "127.0.0.1:7500" || len(ci.AllowedOrigins) != 1 {
		t.Errorf("Config(good) = %+v", ci)
	}
	if runtime.GOOS != "windows" && ci.Mode.Perm() != 0o644 {
		t.Errorf("mode %v", ci.Mode)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("listne = 1\n"), 0o600)
	if ci := s.Config(bad); !ci.Exists || len(ci.Errors) != 1 {
		t.Errorf("Config(bad) = %+v", ci)
	}
	if ci := s.Config(filepath.Join(dir, "none.toml")); ci.Exists {
		t.Errorf("Config(missing) = %+v", ci)
	}
}

func TestSystemDir(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o750)
	d, err := (&doctor.System{}).Dir(dir)
	if err != nil || !d.Exists || !d.IsDir {
		t.Fatalf("Dir = %+v, %v", d, err)
	}
	if runtime.GOOS == "linux" && (d.Mode.Perm() != 0o750 || d.Owner == "") {
		t.Errorf("Dir = %+v, want mode 0750 and an owner", d)
	}
	if d, err := (&doctor.System{}).Dir(filepath.Join(dir, "x")); err != nil || d.Exists {
		t.Errorf("Dir(missing) = %+v, %v", d, err)
	}
}

func TestSystemRemoteDate(t *testing.T) {
	skewed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(-10*time.Minute).UTC().Format(http.TimeFormat))
	}))
	defer skewed.Close()
	remote, local, err := (&doctor.System{}).RemoteDate(context.Background(), skewed.URL)
	if err != nil {
		t.Fatal(err)
	}
	if skew := local.Sub(remote); skew < 9*time.Minute || skew > 11*time.Minute {
		t.Errorf("skew = %v, want about 10 min", skew)
	}
}

// The probes of this very machine: whatever it has, Run completes with
// well-formed findings.
func TestSystemRun(t *testing.T) {
	if testing.Short() {
		t.Skip("probes the machine")
	}
	s := &doctor.System{ListReaders: func(context.Context) ([]string, error) { return []string{"fake reader"}, nil }}
	o := doctor.Options{GOOS: runtime.GOOS, StateDir: t.TempDir(), Listen: "127.0.0.1:0", ProbeTimeout: 3 * time.Second}
	r := doctor.Run(context.Background(), s, o)
	var buf bytes.Buffer
	r.WriteText(&buf)
	t.Logf("this machine:\n%s", buf.String())
	if _, ok := r.Find("readers.ok"); !ok {
		t.Errorf("no readers.ok with a reader: %+v", r.Findings)
	}
	if runtime.GOOS == "linux" {
		if mods, err := s.KernelModules(); err == nil && len(mods) == 0 {
			t.Error("/proc/modules readable but no modules")
		}
	}
}
