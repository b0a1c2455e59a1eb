package health

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	readers := []Reader{{Name: "ACS ACR1252U"}}
	tests := []struct {
		name     string
		in       Report
		status   Status
		code     int
		problems []string
	}{
		{"serving", Report{PCSC: PCSC{State: PCSCRunning}, Readers: readers, Store: Store{OK: true}}, StatusOK, 200, nil},
		{"simulated", Report{PCSC: PCSC{State: PCSCSimulated}, Readers: []Reader{{Name: "nfcd simulated reader"}}, Store: Store{OK: true}}, StatusOK, 200, nil},
		{"pcscd killed", Report{PCSC: PCSC{State: PCSCNoService}, Readers: nil, Store: Store{OK: true}}, StatusUnavailable, 503, []string{ProblemPCSCUnavailable}},
		{"starting", Report{PCSC: PCSC{State: PCSCStarting}, Store: Store{OK: true}}, StatusUnavailable, 503, []string{ProblemPCSCUnavailable}},
		{"polkit", Report{PCSC: PCSC{State: PCSCDenied}, Store: Store{OK: true}}, StatusUnavailable, 503, []string{ProblemPCSCDenied}},
		{"no readers", Report{PCSC: PCSC{State: PCSCRunning}, Store: Store{OK: true}}, StatusUnavailable, 503, []string{ProblemNoReaders}},
		{"store failed", Report{PCSC: PCSC{State: PCSCRunning}, Readers: readers}, StatusUnavailable, 503, []string{ProblemStore}},
		{"remote down", Report{PCSC: PCSC{State: PCSCRunning}, Readers: readers, Store: Store{OK: true}, Remote: Remote{Configured: true}}, StatusDegraded, 200, []string{ProblemRemoteUnreachable}},
		{"remote unconfigured", Report{PCSC: PCSC{State: PCSCRunning}, Readers: readers, Store: Store{OK: true}, Remote: Remote{}}, StatusOK, 200, nil},
		{"backlog", Report{PCSC: PCSC{State: PCSCRunning}, Readers: readers, Store: Store{OK: true}, Remote: Remote{Configured: true, Reachable: true, OutboxDepth: 500}}, StatusDegraded, 200, []string{ProblemOutboxBacklog}},
		{"everything wrong", Report{PCSC: PCSC{State: PCSCNoService}, Remote: Remote{Configured: true}}, StatusUnavailable, 503, []string{ProblemPCSCUnavailable, ProblemStore, ProblemRemoteUnreachable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.in
			r.Evaluate()
			if r.Status != tc.status || r.Code() != tc.code || !slices.Equal(r.Problems, tc.problems) {
				t.Errorf("Evaluate(%s) = %s %d %q, want %s %d %q", tc.name, r.Status, r.Code(), r.Problems, tc.status, tc.code, tc.problems)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	state := PCSCRunning
	h := Handler(func(context.Context) Report {
		return Report{Version: "1.2.3", Time: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
			PCSC: PCSC{State: state}, Readers: []Reader{{Name: "r", CardPresent: true}}, Store: Store{OK: true}}
	})
	get := func(method string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/healthz", nil))
		return rec
	}
	rec := get("GET")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET = %d %v", rec.Code, rec.Header())
	}
	want := `{"service":"nfcd","status":"ok","problems":[],"version":"1.2.3","time":"2026-05-01T12:00:00Z","pcsc":{"state":"running"},"readers":[{"name":"r","card_present":true}],"store":{"ok":true},"remote":{"configured":false,"reachable":false,"outbox_depth":0}}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("body\n%s\nwant\n%s", rec.Body, want)
	}
	state = PCSCNoService
	rec = get("GET")
	var r Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != 503 || r.Status != StatusUnavailable {
		t.Errorf("with pcscd gone: %d %s (%v)", rec.Code, rec.Body, err)
	}
	if rec = get("HEAD"); rec.Code != 503 || rec.Body.Len() != 0 {
		t.Errorf("HEAD = %d with %d bytes", rec.Code, rec.Body.Len())
	}
	if rec = get("POST"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d", rec.Code)
	}
}
