package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func noEnv(string) string { return "" }

func TestConsoleLine(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Stderr: &buf, Format: FormatConsole, Color: ColorNever, Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	l.Named("tap").Info("verdict",
		zap.String("reader", "ACS ACR1252U PICC"),
		zap.String("verdict", "authentic"),
		zap.Int("latency_ms", 41),
		zap.Bool("feedback", true),
		zap.String("empty", ""),
		zap.Strings("origins", []string{"https://pos.example"}),
		zap.Namespace("remote"), zap.String("endpoint", "verify"))
	line := buf.String()
	want := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  tap: verdict reader="ACS ACR1252U PICC" verdict=authentic latency_ms=41 feedback=true empty="" origins=\["https://pos.example"\] remote.endpoint=verify\n$`)
	if !want.MatchString(line) {
		t.Errorf("console line:\n%q\nwant it to match\n%s", line, want)
	}
	if strings.Contains(line, "\x1b[") {
		t.Error("ColorNever line has escape codes")
	}

	buf.Reset()
	l, _ = New(Options{Stderr: &buf, Format: FormatConsole, Color: ColorAlways, Getenv: noEnv})
	l.Error("failed", zap.String("step", "connect"))
	if !strings.Contains(buf.String(), "\x1b[31mERROR\x1b[0m") || !strings.Contains(buf.String(), ansiFaint+"step="+ansiReset+"connect") {
		t.Errorf("coloured line %q lacks the red level or faint keys", buf.String())
	}
}

func TestAutoFormat(t *testing.T) {
	// A pipe or buffer is not a terminal: JSON lines, as for the journal.
	var buf bytes.Buffer
	l, err := New(Options{Stderr: &buf, Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("reader added", zap.String("reader", "vpcd 0"))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("auto format on a buffer: %q is not JSON: %v", buf.String(), err)
	}
	if m["msg"] != "reader added" || m["reader"] != "vpcd 0" || m["level"] != "info" || m["ts"] == nil {
		t.Errorf("JSON line = %v", m)
	}
}

func TestParse(t *testing.T) {
	if l, err := ParseLevel("warn"); err != nil || l != zapcore.WarnLevel {
		t.Errorf("ParseLevel(warn) = %v, %v", l, err)
	}
	for _, bad := range []string{"loud", "fatal"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
	if f, err := ParseFormat("json"); err != nil || f != FormatJSON {
		t.Errorf("ParseFormat(json) = %v, %v", f, err)
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) accepted")
	}
}

func TestLevelReload(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Stderr: &buf, Format: FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hidden")
	l.Level.SetLevel(zapcore.DebugLevel)
	l.Debug("shown")
	l.Level.SetLevel(zapcore.ErrorLevel)
	l.Warn("hidden too")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "shown") {
		t.Errorf("after level changes the output is %q", got)
	}
}

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs", "nfcd.log")
	l, err := New(Options{File: File{Path: path, MaxSizeMB: 1, MaxBackups: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pad := strings.Repeat("x", 1000)
	for i := range 3000 { // ~3 MB: two rotations at 1 MB
		l.Info("filler", zap.Int("i", i), zap.String("pad", pad))
	}
	if err := l.Rotate(); err != nil {
		t.Fatal(err)
	}
	l.Info("after rotate")
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "nfcd-*.log"))
	// MaxBackups=2: lumberjack deletes older backups in the background.
	if len(files) < 2 {
		t.Errorf("backups %q, want at least 2 rotated files", files)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(b), &m); err != nil || m["msg"] != "after rotate" {
		t.Errorf("current file after Rotate = %q (%v), want one JSON line", b, err)
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(path)
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("log file mode %v, want no access for others", st.Mode().Perm())
		}
	}
}

// fakeSystemLog records what reaches the system log.
type fakeSystemLog struct {
	mu    sync.Mutex
	lines []string
}

func (f *fakeSystemLog) add(kind string, v []any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, kind+" "+fmt.Sprint(v...))
	return nil
}
func (f *fakeSystemLog) Error(v ...any) error   { return f.add("E", v) }
func (f *fakeSystemLog) Warning(v ...any) error { return f.add("W", v) }
func (f *fakeSystemLog) Info(v ...any) error    { return f.add("I", v) }

func TestSystemLog(t *testing.T) {
	sys := &fakeSystemLog{}
	var out bytes.Buffer
	l, err := New(Options{Stderr: &out, Format: FormatJSON, SystemLog: sys, Service: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := l.Named("service")
	svc.Info("started", ServiceEvent, zap.String("version", "1.2.3"))
	l.Info("tap", zap.String("reader", "r"))
	l.Warn("reader lost", zap.String("reader", "r"))
	l.Error("store failed", zap.Error(errors.New("open "+sampleURL)))
	svc.With(ServiceEvent).Info("stopping")
	want := []string{
		"I service: started version=1.2.3",
		"W reader lost reader=r",
		"E store failed error=\"open https://sdm.example/tag?picc_data=[redacted]&cmac=[redacted]\"",
		"I service: stopping",
	}
	if strings.Join(sys.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("system log:\n%s\nwant\n%s", strings.Join(sys.lines, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(out.String(), serviceEventKey) {
		t.Errorf("the ServiceEvent marker shows in the output: %s", out.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 5 {
		t.Errorf("stderr has %d lines, want all 5 entries", n)
	}
}

// TestNoSecretsInFullLog logs what a daemon run logs, secrets included in
// every way a field can carry them, to every output at once, then greps
// every line of every output for every secret.
func TestNoSecretsInFullLog(t *testing.T) {
	dir := t.TempDir()
	sys := &fakeSystemLog{}
	var console, journal bytes.Buffer
	file := filepath.Join(dir, "nfcd.log")
	root, err := New(Options{Level: zap.NewAtomicLevelAt(zapcore.DebugLevel), Stderr: &journal, Format: FormatJSON,
		File: File{Path: file}, SystemLog: sys})
	if err != nil {
		t.Fatal(err)
	}
	human, err := New(Options{Level: zap.NewAtomicLevelAt(zapcore.DebugLevel), Stderr: &console, Format: FormatConsole, Color: ColorAlways, Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	spec := profileSpec{Name: "store", Match: "https://sdm.example/tag", FileKey: aesKey, MetaKey: strings.ToLower(aesKey)}
	for _, log := range []*zap.Logger{root.Logger, human.Logger} {
		svc := log.Named("service")
		svc.Info("started", ServiceEvent, zap.String("listen", "127.0.0.1:7424"))
		cfg := log.Named("config")
		cfg.Debug("profile loaded", zap.Any("profile", spec))
		cfg.Warn("config readable by others", zap.String("file", "/etc/nfcd/nfcd.toml"), zap.String("sdm_meta_read_key", aesKey))
		ws := log.Named("ws").With(zap.String("origin", "https://pos.example"), zap.String("token", apiToken))
		ws.Info("client connected", zap.String("auth", "Bearer "+apiToken))
		ws.Info("client", zap.String("detail", "presented "+apiToken))
		ws.Debug("hello", zap.ByteString("frame", []byte(`{"type":"hello","token":"`+apiToken+`"}`)))
		tap := log.Named("tap").With(zap.String("reader", "ACS ACR1252U"), zap.String("uid", tagUID))
		tap.Info("tag read", zap.String("url", sampleURL), zap.Int("latency_ms", 41))
		tap.Debug("sun", zap.Stringer("url", stringer(boltCardURL)), zap.Binary("cmac_bytes", []byte(cmac)))
		tap.Warn("verdict", zap.String("verdict", "counterfeit"), zap.String("reason", "bad_mac"),
			zap.Error(fmt.Errorf("verify %s: %w", sampleURL, errors.New("bad mac"))))
		tap.Warn("verdict", zap.Error(fmt.Errorf("verify %s: %w", boltCardURL, errors.New("bad mac"))))
		tap.Info("inline", zap.Inline(tapObject{uid: tagUID, url: sampleURL}), zap.Object("again", tapObject{uid: tagUID, url: boltCardURL}))
		remote := log.Named("remote")
		remote.Info("request", zap.String("endpoint", "verify"), zap.String("body", `{"uid":"`+tagUID+`","ctr":"000045","cmac":"`+cmac+`"}`))
		remote.Error("request failed", zap.String("header", "Authorization: Bearer "+leoKey), zap.String("dsn", "postgres://nfcd:"+dbPassword+"@db/nfcd"))
		log.Named("store").Error("open", zap.Error(errors.New("password="+dbPassword+" rejected")))
		svc.Info("stopping", ServiceEvent)
	}
	root.Close()
	human.Close()
	fileBytes, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"file":       string(fileBytes),
		"journal":    journal.String(),
		"console":    console.String(),
		"system log": strings.Join(sys.lines, "\n"),
	}
	secrets := []string{aesKey, piccData, cmac, apiToken, apiToken[12:], leoKey, dbPassword, tagUID, "A2EF40F6D46F1BB36E6EBF0114D4A464", "F509EEA788E37E32"}
	lines := 0
	for name, out := range outputs {
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines++
			up := strings.ToUpper(sc.Text())
			for _, s := range secrets {
				if strings.Contains(up, strings.ToUpper(s)) {
					t.Errorf("%s line holds secret %q: %s", name, s, sc.Text())
				}
			}
		}
		if !strings.Contains(out, "stopping") {
			t.Errorf("%s lacks the last entry:\n%s", name, out)
		}
	}
	// The rest must still be there: redaction is not an empty log.
	for _, s := range []string{"ACS ACR1252U", "counterfeit", "bad_mac", "https://pos.example", tokenID, "uid~"} {
		if !strings.Contains(outputs["file"], s) || !strings.Contains(outputs["console"], s) {
			t.Errorf("file or console lacks %q", s)
		}
	}
	t.Logf("%d lines checked", lines)
}
