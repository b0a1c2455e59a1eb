package main

// Process-level measurements of `nfcd run`: startup-to-ready time (target
// < 150 ms), idle RSS (target < 25 MB) and a clean exit on SIGTERM. The
// daemon is built like `make build` and run as a child process, so the
// numbers include the Go runtime start, the store open and the listener,
// and none of the test binary's own memory.
//
// TestRunReadyIdleStop only checks that the numbers can be taken and that
// the process behaves (the VM stalls in bursts, so no wall-clock target
// gates a test); BenchmarkStartupToReady reports them:
//
//	go test ./cmd/nfcd -run '^$' -bench StartupToReady -benchtime 20x -count 3

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// perfReadyTimeout bounds the wait for the "listening on" line.
	perfReadyTimeout = 5 * time.Second
	// perfStopTimeout bounds the wait for exit after SIGTERM: the daemon's
	// own shutdown bound (daemon.ShutdownTimeout).
	perfStopTimeout = 5 * time.Second
	// perfIdle is how long the daemon idles before its RSS is read, so
	// that start-up garbage has had a chance to be collected and the
	// number reflects a daemon waiting for taps.
	perfIdle = 2 * time.Second
)

// perfReadyLine is the only thing `nfcd run` prints on stdout.
var perfReadyLine = regexp.MustCompile(`^listening on http://127\.0\.0\.1:([0-9]+)/$`)

// perfSkipUnsupported skips where the measurements cannot be taken: SIGTERM
// needs a POSIX system, VmRSS needs Linux's /proc.
func perfSkipUnsupported(tb testing.TB) {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skipf("process measurements need /proc and SIGTERM (GOOS=%s)", runtime.GOOS)
	}
}

// perfBuild builds nfcd with `make build`'s linker flags (stripped) into a
// temporary directory and returns the binary's path. It leaves out
// -trimpath, which only changes the file names recorded in the binary but
// would miss the compile cache `go test` has just filled (a cold
// -trimpath build takes ~15 s here, the cached link ~1 s).
func perfBuild(tb testing.TB) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Skipf("go tool not found: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "nfcd")
	cmd := exec.Command(goTool, "build", "-ldflags=-s -w -X github.com/nfcd/nfcd/internal/buildinfo.Version=perf", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// perfConfig writes a configuration with a simulate interval long enough
// that no simulated tap happens while the daemon is measured.
func perfConfig(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "nfcd.toml")
	if err := os.WriteFile(path, []byte("simulate_interval = \"1h\"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// perfStdout collects a child's stdout and notes when its first line is
// complete.
type perfStdout struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lineAt  time.Time
	hasLine chan struct{}
}

func (w *perfStdout) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lineAt.IsZero() && bytes.IndexByte(p, '\n') >= 0 {
		w.lineAt = now
		close(w.hasLine)
	}
	return w.buf.Write(p)
}

func (w *perfStdout) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// perfLockedBuffer is a bytes.Buffer safe for the exec copy goroutine and
// the test reading it.
type perfLockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *perfLockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *perfLockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// perfProc is a running `nfcd run --simulate`.
type perfProc struct {
	cmd    *exec.Cmd
	start  time.Time
	stdout *perfStdout
	stderr *perfLockedBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, set before done closes
	addr   string        // 127.0.0.1:PORT, once ready
}

// perfStart starts `nfcd run --simulate` on stateDir with the config file
// cfg. The process is killed when tb ends if it is still running.
func perfStart(tb testing.TB, bin, stateDir, cfg string) *perfProc {
	tb.Helper()
	p := &perfProc{
		cmd:    exec.Command(bin, "run", "--simulate", "--config", cfg, "--state-dir", stateDir, "--listen", "127.0.0.1:0"),
		stdout: &perfStdout{hasLine: make(chan struct{})},
		stderr: &perfLockedBuffer{},
		done:   make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start nfcd: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// awaitReady waits for the "listening on" line and returns the time from
// process start to that line.
func (p *perfProc) awaitReady(tb testing.TB) time.Duration {
	tb.Helper()
	select {
	case <-p.stdout.hasLine:
	case <-p.done:
		tb.Fatalf("nfcd exited before it was ready: %v\nstdout:\n%s\nstderr:\n%s", p.err, p.stdout, p.stderr)
	case <-time.After(perfReadyTimeout):
		tb.Fatalf("no ready line within %v\nstdout:\n%s\nstderr:\n%s", perfReadyTimeout, p.stdout, p.stderr)
	}
	p.stdout.mu.Lock()
	ready := p.stdout.lineAt.Sub(p.start)
	p.stdout.mu.Unlock()
	line, _, _ := strings.Cut(p.stdout.String(), "\n")
	m := perfReadyLine.FindStringSubmatch(line)
	if m == nil {
		tb.Fatalf("first stdout line = %q, want %q", line, perfReadyLine)
	}
	p.addr = "127.0.0.1:" + m[1]
	return ready
}

// stop sends SIGTERM and waits for the exit. It fails tb unless the process
// exits with status 0 within perfStopTimeout, and returns how long it took.
func (p *perfProc) stop(tb testing.TB) time.Duration {
	tb.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(perfStopTimeout):
		tb.Fatalf("nfcd still running %v after SIGTERM\nstderr:\n%s", perfStopTimeout, p.stderr)
	}
	took := time.Since(start)
	if p.err != nil {
		tb.Fatalf("nfcd exit after SIGTERM: %v, want status 0\nstderr:\n%s", p.err, p.stderr)
	}
	return took
}

// perfMemory is the resident memory of a process, from /proc/PID/status.
type perfMemory struct {
	RSS, HWM int64 // VmRSS, VmHWM (peak) in bytes
}

// memory reads the process's VmRSS and VmHWM.
func (p *perfProc) memory() (perfMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return perfMemory{}, err
	}
	defer f.Close()
	var m perfMemory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		// "VmRSS:	   11264 kB"
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return perfMemory{}, fmt.Errorf("parse %s %q: %w", key, val, err)
		}
		if key == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.HWM = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return perfMemory{}, err
	}
	if m.RSS == 0 {
		return perfMemory{}, errors.New("no VmRSS in /proc status")
	}
	return m, nil
}

func perfMB(b int64) float64 { return float64(b) / (1 << 20) }

func perfMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// perfWriteReport writes lines to $NFCD_REPORT_DIR/daemon-perf.txt when
// that variable is set.
func perfWriteReport(tb testing.TB, lines []string) {
	tb.Helper()
	dir := os.Getenv("NFCD_REPORT_DIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "daemon-perf.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("report written to %s", path)
}

// TestRunReadyIdleStop starts `nfcd run --simulate` on a fresh state
// directory, waits for its ready line, lets it idle, reads its RSS, stops
// it with SIGTERM and checks the exit and the output. The measured numbers
// are logged (and written to $NFCD_REPORT_DIR), not judged.
func TestRunReadyIdleStop(t *testing.T) {
	perfSkipUnsupported(t)
	if testing.Short() {
		t.Skip("builds and runs the nfcd binary")
	}
	bin := perfBuild(t)
	p := perfStart(t, bin, t.TempDir(), perfConfig(t))
	ready := p.awaitReady(t)
	// The ready line promises a listening socket.
	c, err := net.DialTimeout("tcp", p.addr, time.Second)
	if err != nil {
		t.Fatalf("ready line printed, but dial %s: %v", p.addr, err)
	}
	c.Close()
	time.Sleep(perfIdle)
	mem, err := p.memory()
	if err != nil {
		t.Fatalf("read RSS: %v", err)
	}
	stop := p.stop(t)
	if out, want := p.stdout.String(), "listening on http://"+p.addr+"/\n"; out != want {
		t.Errorf("stdout = %q, want exactly %q", out, want)
	}
	var binSize int64
	if fi, err := os.Stat(bin); err == nil {
		binSize = fi.Size()
	}
	lines := []string{
		fmt.Sprintf("# nfcd run --simulate, fresh state dir, %s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU()),
		fmt.Sprintf("startup_to_ready_ms %.1f", perfMS(ready)),
		fmt.Sprintf("idle_rss_mb %.1f", perfMB(mem.RSS)),
		fmt.Sprintf("peak_rss_mb %.1f", perfMB(mem.HWM)),
		fmt.Sprintf("sigterm_to_exit_ms %.1f", perfMS(stop)),
		fmt.Sprintf("binary_mb %.1f", perfMB(binSize)),
	}
	for _, l := range lines {
		t.Log(l)
	}
	perfWriteReport(t, lines)
}

// BenchmarkStartupToReady reports the time from starting `nfcd run
// --simulate` to its "listening on" line (ready-ms, the median; target <
// 150 ms) and, from one extra run idling perfIdle, its resident memory
// (rss-MB; target < 25 MB). state=fresh starts each run on an empty state
// directory (first start: creates the database, generates the signing key
// and the demo keys, with their fsyncs); state=existing reuses one (every
// later start, the case the README should quote). ns/op includes the
// shutdown after SIGTERM.
func BenchmarkStartupToReady(b *testing.B) {
	perfSkipUnsupported(b)
	bin := perfBuild(b)
	cfg := perfConfig(b)
	for _, fresh := range []bool{true, false} {
		name := "state=existing"
		if fresh {
			name = "state=fresh"
		}
		b.Run(name, func(b *testing.B) {
			shared := b.TempDir()
			stateDir := func() string {
				if fresh {
					return b.TempDir()
				}
				return shared
			}
			if !fresh {
				// Create the state once, outside the measurement, and stop
				// before the next run opens the store (bbolt's file lock).
				p := perfStart(b, bin, shared, cfg)
				p.awaitReady(b)
				p.stop(b)
			}
			ready := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				p := perfStart(b, bin, stateDir(), cfg)
				ready = append(ready, p.awaitReady(b))
				p.stop(b)
			}
			b.StopTimer()
			slices.Sort(ready)
			b.ReportMetric(perfMS(ready[(len(ready)-1)/2]), "ready-ms")
			b.ReportMetric(perfMS(ready[len(ready)-1]), "ready-max-ms")

			p := perfStart(b, bin, stateDir(), cfg)
			p.awaitReady(b)
			time.Sleep(perfIdle)
			mem, err := p.memory()
			if err != nil {
				b.Fatalf("read RSS: %v", err)
			}
			p.stop(b)
			b.ReportMetric(perfMB(mem.RSS), "rss-MB")
			b.ReportMetric(perfMB(mem.HWM), "peak-rss-MB")
		})
	}
}
