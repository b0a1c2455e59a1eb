package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildWithoutCgo builds nfcd with CGO_ENABLED=0, as a kiosk image
// without a C toolchain would, and checks that everything but PC/SC works:
// `nfcd run --simulate` starts, serves the page and stops cleanly; verify,
// token, key and history work; readers, watch and run without --simulate
// say the build has no PC/SC support and exit 1.
func TestBuildWithoutCgo(t *testing.T) {
	perfSkipUnsupported(t)
	if testing.Short() {
		t.Skip("builds and runs the nfcd binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "nfcd")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/nfcd: %v\n%s", err, out)
	}
	state := t.TempDir()

	p := perfStart(t, bin, state, perfConfig(t))
	p.awaitReady(t)
	res, err := http.Get("http://" + p.addr + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("app.js")) {
		t.Errorf("GET / = %d, %d bytes; want the kiosk page", res.StatusCode, len(page))
	}
	p.stop(t)

	nfcd := func(want int, args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("nfcd %v: %v", args, err)
		}
		if code != want {
			t.Errorf("nfcd %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, &stdout, &stderr)
		}
		return stdout.String(), stderr.String()
	}
	if out, _ := nfcd(0, "verify", "--mode", "enc", sampleEnc); !strings.Contains(out, "authentic") {
		t.Errorf("verify without cgo printed:\n%s", out)
	}
	nfcd(0, "token", "create", "--name", "pos-1", "--state-dir", state)
	nfcd(0, "key", "show", "--state-dir", state)
	nfcd(0, "history", "--state-dir", state)
	for _, args := range [][]string{{"readers"}, {"watch"}, {"run", "--state-dir", state, "--listen", "127.0.0.1:0"}} {
		if _, errOut := nfcd(1, args...); !strings.Contains(errOut, "built without PC/SC support") {
			t.Errorf("nfcd %s without cgo: stderr %q, want it to say the build has no PC/SC support", args[0], errOut)
		}
	}
}
