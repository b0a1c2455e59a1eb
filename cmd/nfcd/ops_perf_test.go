package main

// Process-level checks and figures of operating `nfcd run`: the reload on
// SIGHUP and on a file change, its duration, and the idle cost (CPU
// wake-ups and CPU time per second with no taps). Built and run like
// perf_test.go's.
//
//	go test ./cmd/nfcd -run '^$' -bench 'Reload|Idle' -benchtime 20x
//	NFCD_IDLE_PCSC=1 go test ./cmd/nfcd -run '^$' -bench Idle   # PC/SC readers instead of --simulate

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var idleWindow = flag.Duration("idle-window", 10*time.Second, "how long BenchmarkIdle counts wake-ups")

// perfStartArgs starts the nfcd binary with args; stderr is kept.
func perfStartArgs(tb testing.TB, bin string, args ...string) *perfProc {
	tb.Helper()
	p := &perfProc{
		cmd:    exec.Command(bin, args...),
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

// logLines returns the JSON log lines on the process's stderr with message
// msg.
func (p *perfProc) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// awaitLog waits until the process has logged msg more than n times and
// returns the n-th such line and when it was seen.
func (p *perfProc) awaitLog(tb testing.TB, msg string, n int) (map[string]any, time.Time) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ls := p.logLines(msg); len(ls) > n {
			return ls[n], time.Now()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no log line %q (#%d)\nstderr:\n%s", msg, n, p.stderr)
		}
		time.Sleep(time.Millisecond)
	}
}

const perfProfile = `
[[profile]]
name = "%s"
match = "https://tags.example/"
mode = "enc"
sdm_file_read_key = "5ACE7E50AB65D5D51FD5BF5A16B8205B"
sdm_meta_read_key = "0C3B25D92B38AE443229DD59AD34B85D"
`

func perfReloadConfig(name, level string) string {
	return "simulate_interval = \"1h\"\n[log]\nlevel = \"" + level + "\"\n" + fmt.Sprintf(perfProfile, name)
}

// TestRunReload changes the configuration under a running `nfcd run`:
// SIGHUP reloads it, so does a change of the file, a broken file is
// refused and the daemon carries on, and the level follows log.level.
func TestRunReload(t *testing.T) {
	perfSkipUnsupported(t)
	if testing.Short() {
		t.Skip("builds and runs the nfcd binary")
	}
	bin := perfBuild(t)
	cfg := filepath.Join(t.TempDir(), "nfcd.toml")
	os.WriteFile(cfg, []byte(perfReloadConfig("a", "info")), 0o600)
	p := perfStartArgs(t, bin, "run", "--simulate", "--config", cfg, "--state-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-format", "json")
	p.awaitReady(t)

	os.WriteFile(cfg, []byte(perfReloadConfig("b", "debug")), 0o600)
	line, _ := p.awaitLog(t, "configuration reloaded", 0) // the watcher
	if line["reason"] != "file" {
		t.Errorf("first reload: %v, want reason file", line)
	}
	p.awaitLog(t, "log level set", 0)
	p.cmd.Process.Signal(syscall.SIGHUP)
	if line, _ := p.awaitLog(t, "configuration unchanged", 0); line["reason"] != "signal" {
		t.Errorf("SIGHUP: %v", line)
	}
	os.WriteFile(cfg, []byte(perfReloadConfig("c", "loud")), 0o600)
	p.awaitLog(t, "configuration refused; the running one is kept", 0)
	if ls := p.logLines("configuration problem"); len(ls) != 1 || ls[0]["line"] != 3.0 || !strings.Contains(ls[0]["problem"].(string), "log.level") {
		t.Errorf("problems logged: %v", ls)
	}
	p.stop(t)
	if strings.Contains(p.stderr.String(), "5ACE7E50AB65D5D5") {
		t.Error("a key reached the log")
	}
}

// BenchmarkReload reports how long `nfcd run` takes to reload a changed
// configuration on SIGHUP: reload-ms is the daemon's own measure (read,
// check, compile the profiles, swap them in), signal-to-log-ms the time
// from the signal to the log line.
func BenchmarkReload(b *testing.B) {
	perfSkipUnsupported(b)
	bin := perfBuild(b)
	cfg := filepath.Join(b.TempDir(), "nfcd.toml")
	os.WriteFile(cfg, []byte(perfReloadConfig("p0", "info")), 0o600)
	p := perfStartArgs(b, bin, "run", "--simulate", "--config", cfg, "--state-dir", b.TempDir(), "--listen", "127.0.0.1:0", "--log-format", "json")
	p.awaitReady(b)
	var took, wall []float64
	b.ResetTimer()
	for i := range b.N {
		// Two profiles, both changed each time. SIGHUP follows the write
		// at once, well before the file watch settles (250 ms), which then
		// finds nothing new.
		os.WriteFile(cfg, []byte(perfReloadConfig("p"+strconv.Itoa(i+1), "info")+fmt.Sprintf(perfProfile, "q"+strconv.Itoa(i))), 0o600)
		sent := time.Now()
		p.cmd.Process.Signal(syscall.SIGHUP)
		line, seen := p.awaitLog(b, "configuration reloaded", i)
		if line["reason"] != "signal" {
			b.Fatalf("reload %d: %v, want the signal's", i, line)
		}
		wall = append(wall, perfMS(seen.Sub(sent)))
		took = append(took, line["took_ms"].(float64))
		time.Sleep(400 * time.Millisecond)
	}
	b.StopTimer()
	p.stop(b)
	slices.Sort(took)
	slices.Sort(wall)
	b.ReportMetric(took[(len(took)-1)/2], "reload-ms")
	b.ReportMetric(wall[(len(wall)-1)/2], "signal-to-log-ms")
}

// procCounters are a process's context switches (all threads) and CPU
// time.
type procCounters struct {
	switches int64 // voluntary + involuntary, summed over /proc/PID/task/*
	cpu      time.Duration
}

func readCounters(pid int) (procCounters, error) {
	var c procCounters
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return c, fmt.Errorf("no tasks of %d", pid)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				c.switches += n
			}
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return c, err
	}
	// Fields after the command name: state is 3, utime 14, stime 15.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	c.cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
	return c, nil
}

// BenchmarkIdle reports what `nfcd run` costs while no tag is tapped:
// wakeups/s (context switches of all its threads per second, each one a
// thread woken), cpu-ms/s and rss-MB, over -idle-window after a second of
// settling. It runs --simulate with no simulated taps, or with
// NFCD_IDLE_PCSC=1 the PC/SC readers of the running pcscd with no card.
func BenchmarkIdle(b *testing.B) {
	perfSkipUnsupported(b)
	bin := perfBuild(b)
	args := []string{"run", "--config", perfConfig(b), "--state-dir", b.TempDir(), "--listen", "127.0.0.1:0"}
	if os.Getenv("NFCD_IDLE_PCSC") != "1" {
		args = append(args, "--simulate")
	}
	for range b.N {
		p := perfStartArgs(b, bin, args...)
		p.awaitReady(b)
		time.Sleep(time.Second)
		pid := p.cmd.Process.Pid
		c0, err := readCounters(pid)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		time.Sleep(*idleWindow)
		c1, err := readCounters(pid)
		if err != nil {
			b.Fatal(err)
		}
		secs := time.Since(t0).Seconds()
		mem, _ := p.memory()
		p.stop(b)
		b.ReportMetric(float64(c1.switches-c0.switches)/secs, "wakeups/s")
		b.ReportMetric(perfMS(c1.cpu-c0.cpu)/secs, "cpu-ms/s")
		b.ReportMetric(perfMB(mem.RSS), "rss-MB")
	}
}
