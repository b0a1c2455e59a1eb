package legitmark_test

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

// The API key, the actor token and presigned signatures never reach a log
// line or an error, whatever fails.
func TestSecretsAbsentFromLogsAndErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const key = "leo_LogTestKey_5f3a9c"
		f := legitmarktest.New(legitmarktest.Options{Keys: []string{key}, RequireUserToken: true, RetryAfter: true})
		core, logs := observer.New(zapcore.DebugLevel)
		log := zap.New(core)
		var errs []error
		keep := func(err error) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		// A transport whose failure message quotes the full request URL,
		// presigned query included.
		leakySide := legitmarktest.SideUUIDs(legitmarktest.CategoryFootwear, true)[0]
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, leakySide) {
				return nil, fmt.Errorf("proxy refused %s with x-api-key %s", r.URL.String(), key)
			}
			return f.Transport().RoundTrip(r)
		})
		cfg := testConfig()
		cfg.APIKey, cfg.Auth = key, legitmark.AuthXAPIKey
		tokens := &legitmark.MemTokens{}
		c := newClient(t, f, cfg, legitmark.Options{Log: log, Tokens: tokens, HTTPClient: &http.Client{Transport: rt}})
		w := legitmark.NewWorkflow(c, &legitmark.MemJournal{}, log)
		ctx := t.Context()

		_, err := c.Services(ctx) // 401: no token yet
		keep(err)
		tok, err := c.RegisterActor(ctx, legitmark.ActorUser{ActorUserID: "a1", Email: "e@example.com", FirstName: "f", LastName: "l", BusinessName: "b", CertificateIssuanceName: "c"})
		if err != nil {
			t.Fatal(err)
		}
		f.Inject("sr.create", legitmarktest.CommitThenDrop(), 1)
		f.Inject("services", legitmarktest.RateLimited(2*time.Second), 1)
		f.Inject("intent", legitmarktest.ExpiredURL(), 1)
		f.Inject("s3.put", legitmarktest.Status(503), 1)
		_, err = c.Services(ctx)
		keep(err)
		rec, err := w.Create(ctx, legitmark.CreateRequest{Reference: "kiosk-secret-1", TagUID: "04A1B2C3D4E5F6", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
		if err != nil {
			t.Fatal(err)
		}
		var imgs []legitmark.SideImage
		for i, name := range legitmarktest.SideNames(legitmarktest.CategoryFootwear, true) {
			imgs = append(imgs, legitmark.SideImage{Side: name, Data: variantJPEG(t, i)})
		}
		_, err = w.Upload(ctx, rec.UUID, imgs, nil)
		keep(err)
		_, err = w.Submit(ctx, rec.UUID)
		keep(err)
		f.Inject("sr.get", legitmarktest.Status(403), 1)
		_, err = c.GetSR(ctx, rec.UUID, legitmark.Include{})
		keep(err)
		f.Inject("sr.get", legitmarktest.Status(401), 1)
		_, err = w.Watch(ctx, rec.UUID, nil) // a permanent failure ends the watch
		keep(err)

		if len(errs) < 2 {
			t.Fatalf("the scenario produced %d errors; it should exercise failures", len(errs))
		}
		sig := regexp.MustCompile(`X-Amz-Signature=[0-9a-f]{16}`)
		check := func(where, s string) {
			if strings.Contains(s, key) || strings.Contains(s, tok.Reveal()) || sig.MatchString(s) || strings.Contains(s, "LogTestKey") {
				t.Errorf("%s carries a secret: %s", where, s)
			}
		}
		for _, err := range errs {
			check("error", err.Error())
			check("error %+v", fmt.Sprintf("%+v", err))
		}
		if logs.Len() == 0 {
			t.Fatal("no log lines to check")
		}
		for _, e := range logs.All() {
			check("log line", fmt.Sprintf("%s %v", e.Message, e.ContextMap()))
		}
		if !errors.Is(errs[0], legitmark.ErrUnauthorized) {
			t.Errorf("first error %v", errs[0])
		}
	})
}
