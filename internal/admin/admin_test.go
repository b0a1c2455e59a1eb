package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func serve(t *testing.T, path string) *Server {
	t.Helper()
	s := NewServer(nil)
	s.Handle("echo", func(_ context.Context, req json.RawMessage) (any, error) {
		var v map[string]any
		if err := json.Unmarshal(req, &v); err != nil {
			return nil, Errorf(CodeBadRequest, "not an object")
		}
		return v, nil
	})
	s.Handle("fail", func(context.Context, json.RawMessage) (any, error) {
		return nil, errors.New("disk full")
	})
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// testPath returns an admin path for a fresh state directory.
func testPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "adm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return Path(dir)
}

func TestCall(t *testing.T) {
	path := testPath(t)
	serve(t, path)
	c := NewClient(path)
	ctx := context.Background()
	var out map[string]any
	if err := c.Call(ctx, "echo", map[string]int{"n": 3}, &out); err != nil || out["n"] != 3.0 {
		t.Errorf("echo = %v, %v", out, err)
	}
	var ae *Error
	if err := c.Call(ctx, "echo", []int{1}, nil); !errors.As(err, &ae) || ae.Code != CodeBadRequest {
		t.Errorf("bad request: %v", err)
	}
	if err := c.Call(ctx, "fail", nil, nil); !errors.As(err, &ae) || ae.Code != CodeFailed || ae.Message != "disk full" {
		t.Errorf("failing method: %v", err)
	}
	if err := c.Call(ctx, "nope", nil, nil); !errors.As(err, &ae) || ae.Code != CodeUnknownMethod {
		t.Errorf("unknown method: %v", err)
	}
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Errorf("second Listen = %v, want ErrInUse", err)
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("socket mode: %v, %v; want 0600", st.Mode(), err)
		}
	}
}

func TestNotRunning(t *testing.T) {
	path := testPath(t)
	c := NewClient(path)
	if err := c.Call(context.Background(), "echo", nil, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("no daemon: %v, want ErrNotRunning", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	// A socket left behind by a killed daemon: nobody accepts.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	start := time.Now()
	if err := c.Call(context.Background(), "echo", nil, nil); !errors.Is(err, ErrNotRunning) || time.Since(start) > time.Second {
		t.Errorf("stale socket: %v after %v, want ErrNotRunning at once", err, time.Since(start))
	}
	serve(t, path) // replaces the stale socket
	if err := c.Call(context.Background(), "echo", nil, nil); err != nil {
		t.Errorf("after replacing the stale socket: %v", err)
	}
}

func TestLongPath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("pipes have no such limit")
	}
	long := filepath.Join(t.TempDir(), string(make([]byte, 0)), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	if _, err := Listen(Path(long)); err == nil {
		t.Error("Listen on a path longer than sun_path succeeded")
	}
}
