package daemon_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/tomlfile"
)

// ctlSource is a simulated reader whose taps the test makes, plus events
// the test sends as if the PC/SC service went away or came back.
type ctlSource struct {
	*simulate.Source
	ctl chan reader.Event
}

func (c ctlSource) Run(ctx context.Context, out chan<- reader.Event) error {
	inner := make(chan reader.Event)
	done := make(chan error, 1)
	go func() { done <- c.Source.Run(ctx, inner) }()
	for {
		var ev reader.Event
		select {
		case ev = <-inner:
		case ev = <-c.ctl:
			ev.Time = time.Now()
		case err := <-done:
			return err
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return <-done
		}
	}
}

// browserKioskState is what browserStatesProbe reads off the page.
type browserKioskState struct {
	Verdict       string `json:"verdict"`
	Tone          string `json:"tone"`
	Outage        string `json:"outage"`
	Title         string `json:"title"`
	Sub           string `json:"sub"`
	Reason        string `json:"reason"`
	Product       string `json:"product"`
	ReaderProblem string `json:"readerProblem"`
	Readers       int    `json:"readers"`
	Connection    string `json:"connection"`
	GreenChecks   int    `json:"greenChecks"`
	Text          string `json:"text"`
	Details       string `json:"details"`
	DetailsOpen   bool   `json:"detailsOpen"`
	Lang          string `json:"lang"`
	Sound         string `json:"sound"`
}

// browserStatesProbe reads the page as a person sees it: hidden elements
// do not count, and innerText is only the visible text.
const browserStatesProbe = `(() => {
	const q = (s) => document.querySelector(s);
	const shown = (el) => !!el && el.checkVisibility({visibilityProperty: true, checkVisibilityCSS: true}) && el.getBoundingClientRect().width > 0;
	const text = (s) => shown(q(s)) ? q(s).textContent : "";
	const last = q('[data-testid="last-verdict"]');
	const checks = [...document.querySelectorAll("use")].filter((u) => u.getAttribute("href") === "#i-check" && shown(u.closest("svg")));
	return {
		verdict: last.dataset.verdict, tone: last.dataset.tone, outage: last.dataset.outage,
		title: text('[data-testid="last-title"]'), sub: text('[data-testid="last-sub"]'),
		reason: text('[data-testid="last-reason"]'), product: text('[data-testid="product"]'),
		readerProblem: text('[data-testid="reader-problem"]'),
		readers: [...document.querySelectorAll('[data-testid="reader-row"]')].filter(shown).length,
		connection: q('[data-testid="connection"]').dataset.state,
		greenChecks: checks.length,
		text: document.body.innerText,
		details: q('[data-testid="facts"]').textContent,
		detailsOpen: shown(q('[data-testid="details"]')),
		lang: document.documentElement.lang,
		sound: document.body.dataset.lastSound || "",
	};
})()`

// TestBrowserKioskStates drives the kiosk page through what a store sees
// besides verdicts: a verdict going back to "Hold the tag to the reader"
// after the configured time, a replayed tap worded as a copied tag with a
// call for staff (codes only under Details), the PC/SC service going away
// and coming back, German, and the daemon going away — and checks that no
// green check is visible during an outage. It saves a screenshot of the
// outage on the smallest kiosk screen.
func TestBrowserKioskStates(t *testing.T) {
	browserChromium(t)
	spec := profile.Spec{
		Name: "shoes", Match: "https://tags.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "enc"},
		FileReadKey: "5ACE7E50AB65D5D51FD5BF5A16B8205B", MetaReadKey: "0C3B25D92B38AE443229DD59AD34B85D",
		Display: profile.Display{DisplayName: "Acme running shoes"},
	}
	l, k, err := spec.Parts(false)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulate.New(simulate.Config{Layout: l, Keys: k, URL: "https://tags.example/t", Dwell: 50 * time.Millisecond, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	src := ctlSource{Source: sim, ctl: make(chan reader.Event)}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Profiles = config.Profiles(spec)
	cfg.Kiosk.VerdictTimeout = tomlfile.Duration{Duration: browserKioskTimeout}
	dctx, stopDaemon := context.WithCancel(context.Background())
	defer stopDaemon()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(dctx, daemon.Options{Config: cfg, StateDir: t.TempDir(), Source: src, Version: "browser-test",
			Log: zaptest.NewLogger(t), Ready: func(u string) { ready <- u }})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("daemon.Run: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("daemon not ready after 15s")
	}
	daemonDone := false
	defer func() {
		if !daemonDone {
			stopDaemon()
			<-done
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 2*browserSessionTimeout)
	defer cancel()
	tabCtx, events := browserTab(t, ctx)
	if err := chromedp.Do(tabCtx, chromedp.Navigate(base), chromedp.EmulateViewport(1024, 600)); err != nil {
		t.Fatalf("navigate to %s: %v", base, err)
	}

	probe := func() browserKioskState {
		t.Helper()
		st, err := chromedp.Run(tabCtx, chromedp.Evaluate[browserKioskState](browserStatesProbe))
		if err != nil {
			t.Fatalf("read page state: %v", err)
		}
		return st
	}
	// await polls the page until ok holds and returns the state.
	await := func(what string, ok func(browserKioskState) bool) browserKioskState {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			st := probe()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; the page shows %+v\nconsole errors: %q", what, st, events.errors())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	tap := func(kind simulate.Kind) {
		t.Helper()
		if err := sim.Tap(ctx, kind); err != nil {
			t.Fatal(err)
		}
	}
	send := func(evs ...reader.Event) {
		t.Helper()
		for _, ev := range evs {
			select {
			case src.ctl <- ev:
			case <-time.After(5 * time.Second):
				t.Fatal("the pipeline does not take source events")
			}
		}
	}
	click := func(testid string) {
		t.Helper()
		if _, err := chromedp.Run(tabCtx, chromedp.Evaluate[bool](`(document.querySelector('[data-testid="`+testid+`"]').click(), true)`)); err != nil {
			t.Fatalf("click %s: %v", testid, err)
		}
	}
	// No code of names.go may be visible outside Details.
	codes := regexp.MustCompile(`\b(authentic|counterfeit|replayed|malformed|unknown_profile|ok|bad_mac|bad_picc_data|bad_format|replayed_counter|bad_input)\b`)
	noCodes := func(st browserKioskState) {
		t.Helper()
		if m := codes.FindString(st.Text); m != "" {
			t.Errorf("the page shows the code %q:\n%s", m, st.Text)
		}
	}
	const idle = "Hold the tag to the reader"

	st := await("the idle page", func(s browserKioskState) bool { return s.Title == idle && s.Readers == 1 })
	if st.Outage != "" || st.ReaderProblem != "" || st.Connection != "open" {
		t.Errorf("idle page: %+v", st)
	}

	// A verdict, with the profile's product, then back to idle after the
	// configured timeout.
	tap(simulate.Genuine)
	st = await("the authentic verdict", func(s browserKioskState) bool { return s.Verdict == "authentic" })
	shownAt := time.Now()
	if st.Sound != "" {
		t.Errorf("a sound was started (%q) although [kiosk] sound is off", st.Sound)
	}
	if st.Title != "Authentic" || strings.TrimSpace(st.Product) != "Acme running shoes" || st.GreenChecks == 0 {
		t.Errorf("authentic verdict: title %q, product %q, %d green checks; want Authentic, the profile's product, a check", st.Title, st.Product, st.GreenChecks)
	}
	noCodes(st)
	await("the verdict timeout", func(s browserKioskState) bool { return s.Title == idle && s.Verdict == "none" })
	if took := time.Since(shownAt); took < browserKioskTimeout-300*time.Millisecond || took > browserKioskTimeout+3*time.Second {
		t.Errorf("the verdict went back to %q after %v, want about %v (kiosk.verdict_timeout)", idle, took, browserKioskTimeout)
	}

	// A replayed tap: a copied tag, call staff, no invitation to retry;
	// the code is under Details only.
	tap(simulate.Replay)
	await("the first presentation of the replay tag", func(s browserKioskState) bool { return s.Verdict == "authentic" })
	tap(simulate.Replay)
	st = await("the replayed verdict", func(s browserKioskState) bool { return s.Verdict == "replayed" })
	words := st.Title + " " + st.Sub + " " + st.Reason
	for _, want := range []string{"Copied tag", "cloned", "call a member of staff", "already used"} {
		if !strings.Contains(words, want) {
			t.Errorf("replayed verdict reads %q, want it to say %q", words, want)
		}
	}
	if regexp.MustCompile(`(?i)try again|tap again|retry`).MatchString(words) || st.Tone != "bad" {
		t.Errorf("replayed verdict invites a retry or does not look bad: %+v", st)
	}
	noCodes(st)
	click("details-button")
	st = await("the technical details", func(s browserKioskState) bool { return s.DetailsOpen })
	for _, want := range []string{"replayed", "replayed_counter", "045E9A7E000002", "is not above"} {
		if !strings.Contains(strings.ReplaceAll(st.Details, " ", ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("Details lack %q: %s", want, st.Details)
		}
	}
	click("details-close")
	await("the details closed", func(s browserKioskState) bool { return !s.DetailsOpen })

	// The PC/SC service goes away while a verdict is on screen: the page
	// says so, the reader card says what is wrong, and no green check
	// remains anywhere.
	tap(simulate.Genuine)
	await("an authentic verdict", func(s browserKioskState) bool { return s.Verdict == "authentic" && s.GreenChecks > 0 })
	send(reader.Event{Kind: event.Error, Err: fmt.Errorf("pcsc: establish context: smart card service unavailable")},
		reader.Event{Kind: event.ServiceChanged, Service: reader.ServiceDown},
		reader.Event{Kind: event.ReaderRemoved, Reader: simulate.ReaderName})
	st = await("the PC/SC outage", func(s browserKioskState) bool { return s.Outage == "pcsc" && s.Readers == 0 })
	if st.Title != "The card reader is not working" || st.ReaderProblem != "Card reader service stopped" || st.GreenChecks != 0 ||
		st.Connection != "outage" || !strings.Contains(st.Sub, "staff") {
		t.Errorf("PC/SC outage: %+v", st)
	}
	noCodes(st)
	browserShot(t, tabCtx, 1024, 600, "kiosk-outage-1024x600.png")
	send(reader.Event{Kind: event.ServiceChanged, Service: reader.ServiceRunning},
		reader.Event{Kind: event.ReaderAdded, Reader: simulate.ReaderName})
	st = await("the page back after the outage", func(s browserKioskState) bool { return s.Outage == "" && s.Readers == 1 })
	if st.Title != idle {
		t.Errorf("after the outage the page shows %q, want %q (the old verdict must not come back)", st.Title, idle)
	}

	// German, then the daemon goes away.
	if err := chromedp.Do(tabCtx, chromedp.Navigate(base+"?lang=de&sound=1")); err != nil {
		t.Fatal(err)
	}
	st = await("the German page", func(s browserKioskState) bool { return s.Lang == "de" && s.Readers == 1 })
	if st.Title != "Etikett an das Lesegerät halten" {
		t.Errorf("German idle title %q", st.Title)
	}
	tap(simulate.Replay) // fresh: the replay tag repeats every second presentation
	await("the replay tag's fresh presentation", func(s browserKioskState) bool { return s.Verdict == "authentic" })
	tap(simulate.Replay)
	st = await("the German replayed verdict", func(s browserKioskState) bool { return s.Verdict == "replayed" })
	if !strings.Contains(st.Title, "Kopiertes Etikett") || !strings.Contains(st.Title, "Personal rufen") || !strings.Contains(st.Sub, "kopiert") {
		t.Errorf("German replayed verdict: %q / %q", st.Title, st.Sub)
	}
	if st.Sound != "bad" {
		t.Errorf("with ?sound=1 the replayed verdict started sound %q, want the \"bad\" tones", st.Sound)
	}
	tap(simulate.Genuine)
	await("an authentic verdict", func(s browserKioskState) bool { return s.Verdict == "authentic" && s.GreenChecks > 0 })
	stopDaemon()
	if err := <-done; err != nil {
		t.Errorf("daemon.Run: %v", err)
	}
	daemonDone = true
	st = await("the daemon outage", func(s browserKioskState) bool { return s.Outage == "daemon" })
	if st.Title != "Die Prüfung ist nicht verfügbar" || st.ReaderProblem != "Prüfdienst nicht erreichbar" || st.GreenChecks != 0 {
		t.Errorf("daemon outage: %+v", st)
	}

	if errs := events.errors(); len(errs) > 0 {
		// A reconnecting page logs its failed WebSocket attempts; nothing
		// else may reach the console.
		var other []string
		for _, e := range errs {
			if !strings.Contains(e, "WebSocket") && !strings.Contains(e, "ERR_CONNECTION_REFUSED") && !strings.Contains(e, "/v1/session") {
				other = append(other, e)
			}
		}
		if len(other) > 0 {
			t.Errorf("the page logged %d error(s):\n%s", len(other), strings.Join(other, "\n"))
		}
	}
}
