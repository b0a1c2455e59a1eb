package verifyclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nfcd/nfcd/internal/verifyclient"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

const wallet = "0x803d7be89C5880bEA2F13bc62718a4846f801CFD"

// TestEndpoints exercises every endpoint of the seed against the fake,
// success and documented errors, each matched with errors.Is.
func TestEndpoints(t *testing.T) {
	e := newEnv(t, lt.Options{}, nil)
	e.srv.AddUser("name@example.com")
	ctx := context.Background()
	c := e.c

	tr := e.tap()
	if v, err := c.Validate(ctx, tr); err != nil || !v.CMACVerified || v.Tag == nil || v.Tag.UID != tagUID || v.Tag.Counter == nil {
		t.Errorf("Validate = %+v, %v", v, err)
	}
	if _, err := c.Latest(ctx, tr); !errors.Is(err, verifyclient.ErrNotLatest) {
		t.Errorf("Latest before verify: %v, want ErrNotLatest", err)
	}
	if out, _ := c.Verify(ctx, tr); out.Status != verifyclient.StatusAuthentic || out.Verify == nil || out.Verify.UID != tagUID {
		t.Fatalf("Verify = %+v", out)
	}
	l, err := c.Latest(ctx, tr)
	if err != nil || l.Verification == nil || l.Verification.CMAC != tr.CMAC || l.Verification.CreatedAt.Time.IsZero() {
		t.Errorf("Latest = %+v, %v", l, err)
	}
	// Claim: local wallet check, then the server's rules.
	if _, err := c.Claim(ctx, tr, "0x123"); !errors.Is(err, verifyclient.ErrBadTriple) {
		t.Errorf("Claim(bad wallet) = %v", err)
	}
	tx, err := c.Claim(ctx, tr, wallet)
	if err != nil || len(tx.Hash) != 66 {
		t.Errorf("Claim = %+v, %v", tx, err)
	}
	if _, err := c.Claim(ctx, tr, wallet); !errors.Is(err, verifyclient.ErrAlreadyClaimed) {
		t.Errorf("second Claim = %v, want ErrAlreadyClaimed", err)
	}
	old := tr
	tr = e.tap()
	c.Verify(ctx, tr)
	if _, err := c.Claim(ctx, old, wallet); !errors.Is(err, verifyclient.ErrAlreadyClaimed) && !errors.Is(err, verifyclient.ErrSessionExpired) {
		t.Errorf("Claim(old) = %v", err)
	}
	if _, err := c.Recover(ctx, old); !errors.Is(err, verifyclient.ErrUnauthorized) {
		t.Errorf("Recover(old) = %v, want ErrUnauthorized", err)
	}
	if _, err := c.Recover(ctx, tr); err != nil {
		t.Errorf("Recover = %v", err)
	}
	if _, err := c.Recover(ctx, tr); !errors.Is(err, verifyclient.ErrTransactionFailed) {
		t.Errorf("second Recover = %v, want ErrTransactionFailed", err)
	}
	// Verifications and transfers.
	vs, err := c.Verifications(ctx, tagUID, verifyclient.VerificationsQuery{Page: 1, Limit: 10})
	if err != nil || len(vs.Verifications) != 2 || vs.Verifications[0].Counter == nil || vs.Verifications[0].CreatedAt.Time.IsZero() {
		t.Errorf("Verifications = %+v, %v", vs, err)
	}
	if _, err := c.Verifications(ctx, "04EEEEEEEEEE01", verifyclient.VerificationsQuery{}); !errors.Is(err, verifyclient.ErrTagNotFound) {
		t.Errorf("Verifications(unknown) = %v", err)
	}
	if _, err := c.Verifications(ctx, tagUID, verifyclient.VerificationsQuery{Limit: 1001}); !errors.Is(err, verifyclient.ErrBadTriple) {
		t.Errorf("Verifications(limit 1001) = %v", err)
	}
	ts, err := c.Transfers(ctx, tagUID, verifyclient.TransferQuery{})
	if err != nil || len(ts.Transfers) != 3 {
		t.Errorf("Transfers = %+v, %v", ts, err)
	}
	ts, err = c.Transfers(ctx, tagUID, verifyclient.TransferQuery{Type: "recover", Sender: wallet})
	if err != nil || len(ts.Transfers) != 1 || ts.Transfers[0].TransferType != "recover" {
		t.Errorf("Transfers(recover) = %+v, %v", ts, err)
	}
	for _, q := range []verifyclient.TransferQuery{{Type: "claim"}, {Type: "recover", Receiver: wallet}, {Sender: wallet}, {Type: "bogus"}, {Type: "mint", Receiver: "0x1"}} {
		if _, err := c.Transfers(ctx, tagUID, q); !errors.Is(err, verifyclient.ErrBadTriple) {
			t.Errorf("Transfers(%+v) = %v, want a local refusal", q, err)
		}
	}
	if _, err := c.Transfers(ctx, "04EEEEEEEEEE01", verifyclient.TransferQuery{}); !errors.Is(err, verifyclient.ErrTagNotFound) {
		t.Errorf("Transfers(unknown) = %v", err)
	}
	// Marketing consent.
	if r, err := c.MarketingConsent(ctx, "name@example.com", true); err != nil || r.Message.EmailMarketingConsent != "name@example.com subscribed" {
		t.Errorf("MarketingConsent = %+v, %v", r, err)
	}
	if _, err := c.MarketingConsent(ctx, "nobody@example.com", false); !errors.Is(err, verifyclient.ErrNoUser) {
		t.Errorf("MarketingConsent(unknown) = %v", err)
	}
	if _, err := c.MarketingConsent(ctx, "not-an-email", false); !errors.Is(err, verifyclient.ErrBadTriple) {
		t.Errorf("MarketingConsent(bad) = %v", err)
	}
}

// TestReadsRetry: the read-only endpoints retry 5xx and lost answers.
func TestReadsRetry(t *testing.T) {
	e := newEnv(t, lt.Options{}, func(o *verifyclient.Options) { o.Rand = func() float64 { return 0 } })
	e.srv.Inject(lt.Fault{Route: "verifications", Kind: lt.Status, Code: 500})
	e.srv.Inject(lt.Fault{Route: "verifications", Kind: lt.CommitThenDrop})
	e.srv.Inject(lt.Fault{Route: "verifications", Kind: lt.Malformed})
	if _, err := e.c.Verifications(context.Background(), tagUID, verifyclient.VerificationsQuery{}); err != nil {
		t.Errorf("Verifications after three faults = %v", err)
	}
	e.srv.Inject(lt.Fault{Route: "transfers", Kind: lt.Status, Code: 500, Times: 4})
	_, err := e.c.Transfers(context.Background(), tagUID, verifyclient.TransferQuery{})
	if !errors.Is(err, verifyclient.ErrServer) {
		t.Errorf("Transfers after four 500s = %v, want ErrServer", err)
	}
}

// TestClaimNeverResent: a claim whose answer is lost is not sent again;
// the error says the outcome is unknown.
func TestClaimNeverResent(t *testing.T) {
	e := newEnv(t, lt.Options{}, nil)
	tr := e.tap()
	e.c.Verify(context.Background(), tr)
	e.srv.Inject(lt.Fault{Route: "claim", Kind: lt.CommitThenDrop})
	_, err := e.c.Claim(context.Background(), tr, wallet)
	if !errors.Is(err, verifyclient.ErrAmbiguous) {
		t.Errorf("Claim = %v, want ErrAmbiguous", err)
	}
	n := 0
	for _, r := range e.srv.Requests() {
		if r.Route == "claim" {
			n++
		}
	}
	if n != 1 || e.srv.Owner(tagUID) != wallet {
		t.Errorf("%d claim requests, owner %q", n, e.srv.Owner(tagUID))
	}
	// A 429 is refused unprocessed: retried.
	e.srv.Inject(lt.Fault{Route: "recover", Kind: lt.Status, Code: 429})
	if _, err := e.c.Recover(context.Background(), tr); err != nil {
		t.Errorf("Recover after a 429 = %v", err)
	}
}
