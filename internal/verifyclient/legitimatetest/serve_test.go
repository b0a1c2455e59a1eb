package legitimatetest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestListenAndServe serves the example tags file, taps through the
// control route, verifies, and stops on cancellation without an error.
func TestListenAndServe(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- ListenAndServe(ctx, "127.0.0.1:0", "testdata/tags.toml", zap.New(core)) }()
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, e := range logs.FilterMessage("listening").All() {
			base = e.ContextMap()["base_url"].(string)
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("not listening: %v", <-errc)
	}
	root := strings.TrimSuffix(base, BasePath)
	resp, err := http.Post(root+"/_fake/tap?uid=041E3C8A2D6B80", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, m := readJSON(t, resp)
	if st != 200 || m["ctr"] != "000001" {
		t.Fatalf("tap = %d %v", st, m)
	}
	body := `{"uid":"` + m["uid"].(string) + `","ctr":"` + m["ctr"].(string) + `","cmac":"` + m["cmac"].(string) + `"}`
	resp, err = http.Post(base+"/tags/verify", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if st, m = readJSON(t, resp); st != 200 || m["verified"] != true {
		t.Errorf("verify = %d %v", st, m)
	}
	resp, err = http.Post(root+"/_fake/faults", "application/json", strings.NewReader(`{"route":"verify","kind":"status","code":503}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("inject fault: %v %v", resp, err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("ListenAndServe = %v", err)
	}
	if err := ListenAndServe(context.Background(), "127.0.0.1:0", "testdata/missing.toml", zap.NewNop()); err == nil {
		t.Error("ListenAndServe with a missing tags file succeeded")
	}
}
