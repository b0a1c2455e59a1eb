// Command benchtap measures the tap path on the real pcscd: it presents a
// virtual NTAG 424 DNA (internal/vtag) on the vpcd reader to a reference
// client (a bare PC/SC loop that reads the NDEF file: the floor on this
// machine, ref.go), to `nfcd watch --json` and to `nfcd run` with a
// WebSocket client, and prints, for each,
// detect→event p50/p99, APDUs per tap, the split detect→first APDU / APDUs
// / last APDU→event, and the idle wake-ups per second of the nfcd process
// and of pcscd (voluntary + involuntary context switches summed over
// /proc/PID/task/*/status).
//
// detect is pcscd's first touch of the card: the first frame vpcd sends on
// the card's connection, as the virtual tag records it; the event is the
// JSON line or WebSocket frame reaching this program. All times come from
// this process's monotonic clock.
//
// `make bench-tap` builds nfcd and runs it; it is not part of `make test`.
// It takes the machine-wide vpcd lock (internal/vpcd/vpcdtest) so that no
// pcscd test taps the same slot meanwhile, and starts pcscd with
// .ci/install-pcscd.sh when it is not running.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
	"github.com/nfcd/nfcd/internal/vtag"
)

type options struct {
	nfcd         string
	rounds, taps int
	idle         time.Duration
	modes        string
	asJSON       bool
	verbose      bool
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == refClientFlag {
		if err := referenceClient(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "benchtap reference client:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.nfcd, "nfcd", "bin/nfcd", "the nfcd `binary` to measure")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds of taps per mode")
	flag.IntVar(&o.taps, "taps", 50, "taps per round")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "length of each idle wake-up measurement")
	flag.StringVar(&o.modes, "modes", "ref,watch,run", "what to measure: `list` of ref (a bare PC/SC client: the floor), watch, run")
	flag.BoolVar(&o.asJSON, "json", false, "print one JSON document instead of the table")
	flag.BoolVar(&o.verbose, "v", false, "log progress to stderr")
	flag.Parse()
	if flag.NArg() > 0 || o.rounds < 1 || o.taps < 1 || o.idle <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	rep, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtap:", err)
		os.Exit(1)
	}
	if o.asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return
	}
	rep.print(os.Stdout)
}

// Report is the --json document.
type Report struct {
	Start time.Time `json:"start"`
	// LoadAvg is /proc/loadavg at the start and the end: the machine is
	// shared, so figures come with their load.
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
	CPUs      int    `json:"cpus"`
	// PCSCDIdle is pcscd's wake-ups/s with no nfcd running.
	PCSCDIdle float64 `json:"pcscd_idle_wakeups_per_s"`
	Modes     []Mode  `json:"modes"`
}

// Mode is the figures of one consumer (watch or run).
type Mode struct {
	Name  string  `json:"name"`
	Taps  int     `json:"taps"`
	Lost  int     `json:"lost"`
	APDUs float64 `json:"apdus_per_tap"`
	// Durations in milliseconds.
	DetectEvent   Quantiles `json:"detect_event_ms"`
	DetectFirst   Quantiles `json:"detect_first_apdu_ms"`
	APDUTime      Quantiles `json:"apdus_ms"`
	LastAPDUEvent Quantiles `json:"last_apdu_event_ms"`
	Idle          []Idle    `json:"idle"`
}

// Quantiles of a duration, in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// Idle is one idle measurement: no tag in the field.
type Idle struct {
	Clients int     `json:"clients"`
	Seconds float64 `json:"seconds"`
	Daemon  float64 `json:"nfcd_wakeups_per_s"`
	PCSCD   float64 `json:"pcscd_wakeups_per_s"`
	Threads int     `json:"nfcd_threads"`
}

func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "tap benchmark %s, %d CPUs, load %s → %s\n", r.Start.UTC().Format(time.RFC3339), r.CPUs, r.LoadStart, r.LoadEnd)
	fmt.Fprintf(w, "pcscd alone: %.1f wake-ups/s\n", r.PCSCDIdle)
	fmt.Fprintf(w, "%-6s %5s %5s %6s  %-15s %-15s %-15s %-15s\n", "mode", "taps", "lost", "apdus", "detect→event", "detect→1st", "APDUs", "last→event")
	for _, m := range r.Modes {
		q := func(x Quantiles) string { return fmt.Sprintf("%.2f / %.2f", x.P50, x.P99) }
		fmt.Fprintf(w, "%-6s %5d %5d %6.2f  %-15s %-15s %-15s %-15s\n", m.Name, m.Taps, m.Lost, m.APDUs, q(m.DetectEvent), q(m.DetectFirst), q(m.APDUTime), q(m.LastAPDUEvent))
	}
	fmt.Fprintln(w, "(ms, p50 / p99; detect = pcscd's first touch of the card, event = the line or frame reaching the client)")
	for _, m := range r.Modes {
		for _, i := range m.Idle {
			fmt.Fprintf(w, "%-6s idle, %d client(s): nfcd %.2f wake-ups/s (%d threads), pcscd %.2f/s over %.0f s\n", m.Name, i.Clients, i.Daemon, i.Threads, i.PCSCD, i.Seconds)
		}
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(o options) (*Report, error) {
	if _, err := os.Stat(o.nfcd); err != nil {
		return nil, fmt.Errorf("%w (build it first: make build)", err)
	}
	release, err := vpcdtest.Acquire()
	if err != nil {
		return nil, fmt.Errorf("vpcd lock: %w", err)
	}
	defer release()
	if err := ensurePCSCD(o); err != nil {
		return nil, err
	}
	pcscd, err := pcscdPID()
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, pcscd: pcscd}
	rep := &Report{Start: time.Now(), LoadStart: loadavg(), CPUs: numCPU()}
	b.logf("pcscd pid %d; measuring it alone for %v", pcscd, o.idle)
	rep.PCSCDIdle, _ = b.idle(0)
	for _, m := range strings.Split(o.modes, ",") {
		var mode *Mode
		switch strings.TrimSpace(m) {
		case "ref":
			mode, err = b.reference()
		case "watch":
			mode, err = b.watch()
		case "run":
			mode, err = b.daemon()
		default:
			return nil, fmt.Errorf("unknown mode %q", m)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		rep.Modes = append(rep.Modes, *mode)
	}
	rep.LoadEnd = loadavg()
	return rep, nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "\nprocessor") + 1
}

// ensurePCSCD starts pcscd with vpcd unless it runs.
func ensurePCSCD(o options) error {
	if _, err := os.Stat("/run/pcscd/pcscd.comm"); err == nil {
		if _, err := pcscdPID(); err == nil {
			return nil
		}
	}
	cmd := exec.Command("bash", ".ci/install-pcscd.sh")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("starting pcscd: %w", err)
	}
	return nil
}

func pcscdPID() (int, error) {
	b, err := os.ReadFile("/run/pcscd/pcscd.pid")
	if err != nil {
		return 0, fmt.Errorf("pcscd pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.Trim(string(b), " \t\r\n\x00"))
	if err != nil {
		return 0, fmt.Errorf("pcscd pid %q: %w", b, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return 0, fmt.Errorf("pcscd %d is not running", pid)
	}
	return pid, nil
}

// switches returns the context switches of each thread of pid, by thread
// id.
func switches(pid int) map[string]uint64 {
	out := map[string]uint64{}
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		tid := filepath.Base(filepath.Dir(d))
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				out[tid] += n
			}
		}
	}
	return out
}

// woken sums the switches of each thread between two readings: a thread
// that began meanwhile counts whole, one that ended is lost (pcscd ends a
// thread per client that leaves), so the sum is a lower bound.
func woken(before, after map[string]uint64) uint64 {
	var n uint64
	for tid, a := range after {
		if b := before[tid]; a >= b {
			n += a - b
		}
	}
	return n
}

type bench struct {
	o     options
	pcscd int
}

func (b *bench) logf(format string, args ...any) {
	if b.o.verbose {
		fmt.Fprintf(os.Stderr, "benchtap: "+format+"\n", args...)
	}
}

// idle measures the wake-ups/s of pcscd and, if pid > 0, of pid over the
// idle duration. Threads that exit meanwhile lose their counts, so the
// figure is a lower bound for a process that starts and ends threads.
func (b *bench) idle(pid int) (pcscd float64, it Idle) {
	p0 := switches(b.pcscd)
	var d0 map[string]uint64
	if pid > 0 {
		d0 = switches(pid)
	}
	start := time.Now()
	time.Sleep(b.o.idle)
	secs := time.Since(start).Seconds()
	it.Seconds = secs
	it.PCSCD = float64(woken(p0, switches(b.pcscd))) / secs
	if pid > 0 {
		d1 := switches(pid)
		it.Daemon = float64(woken(d0, d1)) / secs
		it.Threads = len(d1)
	}
	return it.PCSCD, it
}

// timedCard records when pcscd touched the card, and when the first and
// the last APDU were exchanged, for one presentation.
type timedCard struct {
	card *vtag.Card

	mu                      sync.Mutex
	touch, first, lastReply time.Time
	apdus                   int
}

func (c *timedCard) mark() {
	c.mu.Lock()
	if c.touch.IsZero() {
		c.touch = time.Now()
	}
	c.mu.Unlock()
}

func (c *timedCard) ATR() []byte { c.mark(); return c.card.ATR() }
func (c *timedCard) PowerOn()    { c.mark(); c.card.PowerOn() }
func (c *timedCard) PowerOff()   { c.mark(); c.card.PowerOff() }
func (c *timedCard) Reset()      { c.mark(); c.card.Reset() }

func (c *timedCard) Transmit(apdu []byte) []byte {
	now := time.Now()
	c.mu.Lock()
	if c.touch.IsZero() {
		c.touch = now
	}
	if c.first.IsZero() {
		c.first = now
	}
	c.apdus++
	c.mu.Unlock()
	rsp := c.card.Transmit(apdu)
	c.mu.Lock()
	c.lastReply = time.Now()
	c.mu.Unlock()
	return rsp
}

// sample is one tap's timing.
type sample struct {
	detectEvent, detectFirst, apdus, lastEvent time.Duration
	n                                          int
}

// consumer is the side of nfcd a tap's event reaches.
type consumer struct {
	// next waits for the next event matching one of kinds and returns its
	// kind and when it arrived.
	next func(timeout time.Duration, kinds ...string) (string, time.Time, error)
}

func newTag() (*vtag.Card, error) {
	return vtag.New(vtag.Config{Layout: ntag424.Layout{Mode: ntag424.ModeEnc}, URL: "https://sdm.example/tag", Rand: rand.Reader})
}

// taps presents the tag rounds×taps times and collects the timings.
func (b *bench) taps(c consumer, tagKind, removedKind string) (samples []sample, lost int, err error) {
	card, err := newTag()
	if err != nil {
		return nil, 0, err
	}
	for r := 0; r < b.o.rounds; r++ {
		for i := 0; i < b.o.taps; i++ {
			card.Presentation()
			tc := &timedCard{card: card}
			ctx, cancel := context.WithCancel(context.Background())
			conn, err := vpcd.Dial(ctx, vpcdtest.Slot0Addr)
			if err != nil {
				cancel()
				return nil, 0, err
			}
			served := make(chan error, 1)
			go func() { served <- conn.Serve(ctx, tc) }()
			kind, at, err := c.next(5*time.Second, tagKind, "error")
			cancel()
			<-served
			if err != nil {
				return nil, 0, err
			}
			if _, _, err := c.next(5*time.Second, removedKind); err != nil {
				return nil, 0, err
			}
			tc.mu.Lock()
			s := sample{
				detectEvent: at.Sub(tc.touch),
				detectFirst: tc.first.Sub(tc.touch),
				apdus:       tc.lastReply.Sub(tc.first),
				lastEvent:   at.Sub(tc.lastReply),
				n:           tc.apdus,
			}
			tc.mu.Unlock()
			if kind != tagKind || tc.first.IsZero() {
				lost++
				continue
			}
			samples = append(samples, s)
		}
		b.logf("round %d done: %d taps, %d lost", r+1, len(samples), lost)
	}
	return samples, lost, nil
}

func quantiles(s []sample, f func(sample) time.Duration) Quantiles {
	if len(s) == 0 {
		return Quantiles{}
	}
	d := make([]time.Duration, len(s))
	for i, x := range s {
		d[i] = f(x)
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return Quantiles{P50: ms(d[(len(d)-1)/2]), P99: ms(d[int(float64(len(d)-1)*0.99)])}
}

func summarize(name string, s []sample, lost int) *Mode {
	m := &Mode{Name: name, Taps: len(s), Lost: lost}
	n := 0
	for _, x := range s {
		n += x.n
	}
	if len(s) > 0 {
		m.APDUs = float64(n) / float64(len(s))
	}
	m.DetectEvent = quantiles(s, func(x sample) time.Duration { return x.detectEvent })
	m.DetectFirst = quantiles(s, func(x sample) time.Duration { return x.detectFirst })
	m.APDUTime = quantiles(s, func(x sample) time.Duration { return x.apdus })
	m.LastAPDUEvent = quantiles(s, func(x sample) time.Duration { return x.lastEvent })
	return m
}

// arrival is one event as the consumer saw it.
type arrival struct {
	kind string
	at   time.Time
}

func nextOf(ch <-chan arrival) func(time.Duration, ...string) (string, time.Time, error) {
	return func(timeout time.Duration, kinds ...string) (string, time.Time, error) {
		deadline := time.After(timeout)
		for {
			select {
			case a, ok := <-ch:
				if !ok {
					return "", time.Time{}, errors.New("nfcd ended")
				}
				if slices.Contains(kinds, a.kind) {
					return a.kind, a.at, nil
				}
			case <-deadline:
				return "", time.Time{}, fmt.Errorf("no %v event within %v", kinds, timeout)
			}
		}
	}
}

// start starts nfcd with args and returns its stdout lines with their
// arrival times.
func (b *bench) start(args ...string) (*exec.Cmd, <-chan line, error) {
	return b.startCmd(b.o.nfcd, args...)
}

// startCmd starts the program name with args and returns its stdout
// lines with their arrival times.
func (b *bench) startCmd(name string, args ...string) (*exec.Cmd, <-chan line, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	if !b.o.verbose {
		cmd.Stderr = nil
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	lines := make(chan line, 1024)
	go func() {
		defer close(lines)
		r := bufio.NewReader(out)
		for {
			s, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- line{s, time.Now()}
		}
	}()
	return cmd, lines, nil
}

// jsonArrivals turns JSON lines into arrivals of their "type".
func jsonArrivals(lines <-chan line) <-chan arrival {
	ch := make(chan arrival, 1024)
	go func() {
		defer close(ch)
		for l := range lines {
			var m struct {
				Type string `json:"type"`
			}
			json.Unmarshal([]byte(l.text), &m)
			ch <- arrival{m.Type, l.at}
		}
	}()
	return ch
}

// line is one line nfcd printed and when it arrived.
type line struct {
	text string
	at   time.Time
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// watch measures `nfcd watch --json`.
func (b *bench) watch() (*Mode, error) {
	cmd, lines, err := b.start("watch", "--json", "--mode", "enc", "--reader", vpcdtest.Slot0)
	if err != nil {
		return nil, err
	}
	defer stop(cmd)
	c := consumer{next: nextOf(jsonArrivals(lines))}
	if _, _, err := c.next(10*time.Second, "reader_added"); err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // let start-up settle
	b.logf("watch: idle for %v", b.o.idle)
	_, it := b.idle(cmd.Process.Pid)
	s, lost, err := b.taps(c, "tag", "card_removed")
	if err != nil {
		return nil, err
	}
	m := summarize("watch", s, lost)
	m.Idle = []Idle{it}
	return m, nil
}

const config = `listen = %q
include_readers = [%q]

[[profile]]
name = "bench"
match = "https://sdm.example/"
mode = "enc"
sdm_file_read_key = "00000000000000000000000000000000"
sdm_meta_read_key = "00000000000000000000000000000000"
`

// daemon measures `nfcd run` with one WebSocket client.
func (b *bench) daemon() (*Mode, error) {
	dir, err := os.MkdirTemp("", "benchtap-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "state")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfgFile := filepath.Join(dir, "nfcd.toml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, config, addr, vpcdtest.Slot0), 0o600); err != nil {
		return nil, err
	}
	cmd, lines, err := b.start("run", "--config", cfgFile, "--state-dir", state, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	defer stop(cmd)
	var url string
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l.text, "listening on ") {
			return nil, fmt.Errorf("nfcd run did not start: %q", l.text)
		}
		url = strings.TrimSpace(strings.TrimPrefix(l.text, "listening on "))
	case <-time.After(15 * time.Second):
		return nil, errors.New("nfcd run did not start within 15 s")
	}
	go func() {
		for range lines {
		}
	}()
	tok, err := exec.Command(b.o.nfcd, "token", "create", "--name", "bench", "--state-dir", state, "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("token create: %w", err)
	}
	var t struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(tok, &t); err != nil {
		return nil, fmt.Errorf("token create: %w", err)
	}
	time.Sleep(time.Second)
	b.logf("run: idle, no client, for %v", b.o.idle)
	_, idle0 := b.idle(cmd.Process.Pid)

	u := "ws" + strings.TrimPrefix(url, "http") + "v1/ws"
	d := websocket.Dialer{Subprotocols: []string{"nfcd.v1", "nfcd-token." + t.Token}}
	ws, _, err := d.Dial(u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	defer ws.Close()
	ch := make(chan arrival, 1024)
	go func() {
		defer close(ch)
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			at := time.Now()
			var m struct {
				Type string `json:"type"`
			}
			json.Unmarshal(msg, &m)
			ch <- arrival{m.Type, at}
		}
	}()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"subscribe","id":"s1","payload":{}}`)); err != nil {
		return nil, err
	}
	c := consumer{next: nextOf(ch)}
	if _, _, err := c.next(5*time.Second, "result"); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	b.logf("run: idle, one subscribed client, for %v", b.o.idle)
	_, idle1 := b.idle(cmd.Process.Pid)
	idle1.Clients = 1
	s, lost, err := b.taps(c, "tag.read", "card.removed")
	if err != nil {
		return nil, err
	}
	m := summarize("run", s, lost)
	m.Idle = []Idle{idle0, idle1}
	return m, nil
}
