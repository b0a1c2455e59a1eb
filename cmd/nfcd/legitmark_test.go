package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
)

const cliKey = "leo_CliTestKey_31337abc"

// startFakeLegitmark serves the fake on a loopback port and writes a
// configuration that points at it.
func startFakeLegitmark(t *testing.T, o legitmarktest.Options) (fake *legitmarktest.Server, cfgFile string) {
	t.Helper()
	o.Keys = []string{cliKey}
	fake = legitmarktest.New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { legitmarktest.Serve(ctx, ln, fake); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "lm.key")
	os.WriteFile(keyFile, []byte(cliKey), 0o600)
	cfgFile = filepath.Join(dir, "nfcd.toml")
	os.WriteFile(cfgFile, []byte(`[remote.legitmark]
base_url = "`+base+`"
intent_url = "`+base+`/intent"
api_key_file = "`+keyFile+`"
station_id = "cli"
poll_min = "1s"
poll_max = "1s"
`), 0o600)
	return fake, cfgFile
}

func writePhoto(t *testing.T, path string, n int) {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, 640, 640))
	for y := range 640 {
		for x := range 640 {
			m.SetRGBA(x, y, color.RGBA{uint8(x + n*13), uint8(y), uint8(n * 40), 255})
		}
	}
	var b bytes.Buffer
	if strings.HasSuffix(path, ".png") {
		png.Encode(&b, m)
	} else {
		jpeg.Encode(&b, m, &jpeg.Options{Quality: 90})
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lastJSON decodes the last line of out (the result).
func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("line %q is not JSON", l)
		}
	}
	return m
}

// The operator's flow with the CLI against the fake on its own port:
// services, taxonomy, create by names, a partial upload, a submit refused
// with the missing sides, the rest (finished sides skipped), submit, status
// --wait to the verdict, list. The API key never appears in the output.
func TestLegitmarkCLI(t *testing.T) {
	fake, cfg := startFakeLegitmark(t, legitmarktest.Options{AutoAdvance: time.Millisecond})
	state := t.TempDir()
	flags := []string{"--config", cfg, "--state-dir", state}
	var all strings.Builder
	cli := func(args ...string) (string, error) {
		t.Helper()
		out, errOut, err := runCLI(t, "", append(args, flags...)...)
		all.WriteString(out + errOut)
		return out, err
	}

	out, err := cli("legitmark", "services", "--json")
	if err != nil || !strings.Contains(out, "Standard Authentication") {
		t.Fatalf("services = %q, %v", out, err)
	}
	out, err = cli("legitmark", "taxonomy")
	if err != nil || !strings.Contains(out, "Footwear") || !strings.Contains(out, "Nike, Adidas") {
		t.Fatalf("taxonomy = %q, %v", out, err)
	}
	if _, err := cli("legitmark", "sr", "create", "--category", "footwear", "--type", "sandals"); !errors.Is(err, errUsage) {
		t.Errorf("unknown type: %v, want a usage error", err)
	}
	out, err = cli("legitmark", "sr", "create", "--category", "footwear", "--type", "sneakers", "--brand", "nike", "--reference", "cli-0001", "--json")
	if err != nil {
		t.Fatal(err)
	}
	rec := lastJSON(t, out)
	uuid, _ := rec["uuid"].(string)
	if uuid == "" || rec["state"] != "DRAFT" || rec["reference"] != "cli-0001" {
		t.Fatalf("create = %v", rec)
	}

	photos := t.TempDir()
	names := legitmarktest.SideNames(legitmarktest.CategoryFootwear, true) // Front … Box Label
	for i, n := range names[:3] {
		writePhoto(t, filepath.Join(photos, strings.ToLower(strings.ReplaceAll(n, " ", "-"))+".jpg"), i)
	}
	os.WriteFile(filepath.Join(photos, "notes.txt"), []byte("ignored"), 0o644)
	out, err = cli("legitmark", "sr", "upload", uuid, photos, "--json")
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	up := lastJSON(t, out)
	if len(up["uploaded"].([]any)) != 3 || !strings.Contains(out, `"event":"progress"`) {
		t.Errorf("first upload = %s", out)
	}
	out, err = cli("legitmark", "sr", "submit", uuid, "--json")
	res := lastJSON(t, out)
	if !errors.Is(err, errInvalid) || res["error"] != "requirements_not_met" || len(res["missing"].([]any)) != 4 {
		t.Errorf("early submit = %v, %v", res, err)
	}
	for i, n := range names[3:] {
		ext := ".jpg"
		if i == 0 {
			ext = ".png"
		}
		writePhoto(t, filepath.Join(photos, strings.ReplaceAll(n, " ", "-")+ext), 10+i)
	}
	out, err = cli("legitmark", "sr", "upload", uuid, photos) // with the progress bar
	if err != nil || !strings.Contains(out, "uploaded 4, skipped 3") || !strings.Contains(out, "ready: nfcd legitmark sr submit") {
		t.Fatalf("second upload = %q, %v", out, err)
	}
	info, _ := fake.SR(uuid)
	for side, n := range info.Uploads {
		if n != 1 {
			t.Errorf("side %s stored %d times", side, n)
		}
	}
	out, err = cli("legitmark", "sr", "submit", uuid, "--json")
	if err != nil || lastJSON(t, out)["phase"] != "submitted" {
		t.Fatalf("submit = %q, %v", out, err)
	}
	out, err = cli("legitmark", "sr", "status", uuid, "--wait", "--json")
	st := lastJSON(t, out)
	if err != nil || st["status"] != "authentic" || st["state"] != "COMPLETE/APPROVED" || st["final"] != true {
		t.Fatalf("status --wait = %q, %v", out, err)
	}
	out, err = cli("legitmark", "sr", "list", "--json")
	srs := lastJSON(t, out)["srs"].([]any)
	if err != nil || len(srs) != 1 || srs[0].(map[string]any)["phase"] != "final" {
		t.Errorf("list = %q, %v", out, err)
	}
	out, err = cli("legitmark", "sr", "list")
	if err != nil || !strings.Contains(out, "cli-0001") {
		t.Errorf("list = %q, %v", out, err)
	}
	if strings.Contains(all.String(), cliKey) || strings.Contains(all.String(), "CliTestKey") {
		t.Error("the output carries the API key")
	}
}

func TestLegitmarkCLIErrors(t *testing.T) {
	_, cfg := startFakeLegitmark(t, legitmarktest.Options{})
	if _, _, err := runCLI(t, "", "legitmark", "services"); !errors.Is(err, errUsage) {
		t.Errorf("without --config: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.toml")
	os.WriteFile(empty, nil, 0o600)
	if _, _, err := runCLI(t, "", "legitmark", "services", "--config", empty); err == nil || !strings.Contains(err.Error(), "no [remote.legitmark]") {
		t.Errorf("config without the section: %v", err)
	}
	state := t.TempDir()
	if out, _, err := runCLI(t, "", "legitmark", "sr", "list", "--config", cfg, "--state-dir", state, "--json"); err != nil || strings.TrimSpace(out) != `{"srs":[]}` {
		t.Errorf("list of a fresh state dir = %q, %v", out, err)
	}
	if _, _, err := runCLI(t, "", "legitmark", "sr", "upload", "x", t.TempDir(), "--config", cfg, "--state-dir", state); !errors.Is(err, errUsage) {
		t.Errorf("upload from an empty dir: %v", err)
	}
	if _, _, err := runCLI(t, "", "legitmark", "sr", "status", "00000000-0000-4000-8000-000000000000", "--config", cfg, "--state-dir", state); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Errorf("status of an unknown SR: %v", err)
	}
}

// The older auth model: actor register keeps the token in the state
// directory (0600), never prints it, and later commands send it.
func TestLegitmarkActorRegister(t *testing.T) {
	fake, cfg := startFakeLegitmark(t, legitmarktest.Options{RequireUserToken: true})
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("auth = \"x-api-key\"\n")...), 0o600)
	state := t.TempDir()
	flags := []string{"--config", cfg, "--state-dir", state}
	if _, _, err := runCLI(t, "", append([]string{"legitmark", "services"}, flags...)...); err == nil || !strings.Contains(err.Error(), "remote_auth_failed") {
		t.Errorf("services without an actor token: %v", err)
	}
	out, errOut, err := runCLI(t, "", append([]string{"legitmark", "actor", "register", "--actor-id", "kiosk-1", "--email", "ops@example.com",
		"--first-name", "A", "--last-name", "B", "--business-name", "Shop", "--certificate-name", "Shop - A B", "--json"}, flags...)...)
	if err != nil {
		t.Fatalf("register: %v\n%s", err, errOut)
	}
	tokFile := filepath.Join(state, "legitmark-user-token")
	tok, _ := os.ReadFile(tokFile)
	if !strings.HasPrefix(string(tok), "lm_usr_") || strings.Contains(out+errOut, strings.TrimSpace(string(tok))) {
		t.Errorf("token file %q; output %q", tok, out+errOut)
	}
	if fi, err := os.Stat(tokFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode: %v, %v", fi, err)
	}
	if out, _, err := runCLI(t, "", append([]string{"legitmark", "services"}, flags...)...); err != nil || !strings.Contains(out, "Standard") {
		t.Errorf("services with the stored token = %q, %v", out, err)
	}
	var sent bool
	for _, r := range fake.Requests() {
		sent = sent || (r.Route == "services" && r.UserToken == strings.TrimSpace(string(tok)))
	}
	if !sent {
		t.Error("no request carried the stored actor token")
	}
}

// sr list works while a daemon holds the state directory's store: it reads
// the journal through the daemon (admin API) instead of refusing.
func TestLegitmarkListWhileDaemonRuns(t *testing.T) {
	_, cfg := startFakeLegitmark(t, legitmarktest.Options{})
	dir := t.TempDir()
	st, err := store.Open(statedir.PathsOf(dir).DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	j := st.SRJournal()
	for _, e := range []legitmark.Entry{
		{Kind: legitmark.EntryCreating, At: at, Reference: "kiosk-0042", TagUID: "04518DFAA96180"},
		{Kind: legitmark.EntryCreated, At: at, Reference: "kiosk-0042", UUID: "5a000000-0000-4000-8000-0000000000aa", MicroID: "998042",
			State: legitmark.State{Primary: legitmark.StateDraft}},
	} {
		if err := j.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	startSimulated(t, dir)

	out, errOut, err := runCLI(t, "", "legitmark", "sr", "list", "--config", cfg, "--state-dir", dir, "--json")
	if err != nil {
		t.Fatalf("sr list while the daemon runs: %v %s", err, errOut)
	}
	srs, _ := lastJSON(t, out)["srs"].([]any)
	if len(srs) != 1 {
		t.Fatalf("sr list = %s", out)
	}
	if r := srs[0].(map[string]any); r["uuid"] != "5a000000-0000-4000-8000-0000000000aa" || r["reference"] != "kiosk-0042" || r["phase"] != "draft" || r["state"] != "DRAFT" {
		t.Errorf("sr list record = %v", r)
	}
	if out, _, err := runCLI(t, "", "legitmark", "sr", "list", "--config", cfg, "--state-dir", dir); err != nil || !strings.Contains(out, "kiosk-0042") {
		t.Errorf("sr list (table) = %q, %v", out, err)
	}
}
