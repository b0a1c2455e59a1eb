// Package health is the daemon's /healthz document and the rule for its
// status code: 200 while the daemon can serve taps, 503 when it cannot.
//
// Monitoring (and a kiosk page that wants to tell "daemon down" from
// "browser refused the connection") reads one JSON document:
//
//	{"service":"nfcd","status":"unavailable","problems":["pcsc_unavailable"],
//	 "version":"1.2.3","time":"…","pcsc":{"state":"no_service"},
//	 "readers":[],"store":{"ok":true},"remote":{"configured":true,"reachable":false}}
//
// It carries stable codes only, never error text.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// ServiceName identifies nfcd's health document (nfcd doctor uses it to
// recognise a running nfcd on the listen port).
const ServiceName = "nfcd"

// Status is the overall state.
type Status string

// Statuses.
const (
	StatusOK          Status = "ok"          // serving taps, everything reachable
	StatusDegraded    Status = "degraded"    // serving taps; something optional is wrong
	StatusUnavailable Status = "unavailable" // cannot serve taps: 503
)

// PCSCState is the state of the PC/SC service as the daemon sees it.
type PCSCState string

// PC/SC states.
const (
	PCSCRunning   PCSCState = "running"
	PCSCStarting  PCSCState = "starting"   // no context established yet
	PCSCNoService PCSCState = "no_service" // pcscd / SCardSvr not running or unreachable
	PCSCDenied    PCSCState = "denied"     // pcscd's polkit refused the service account
	PCSCSimulated PCSCState = "simulated"  // nfcd run --simulate: no PC/SC at all
)

// Problem codes, in Report.Problems.
const (
	ProblemPCSCUnavailable   = "pcsc_unavailable"
	ProblemPCSCDenied        = "pcsc_denied"
	ProblemNoReaders         = "no_readers"
	ProblemStore             = "store_failed"
	ProblemRemoteUnreachable = "remote_unreachable"
	ProblemOutboxBacklog     = "outbox_backlog"
	// ProblemFleetUnreachable: a [fleet] is configured and its database
	// does not answer; taps are decided locally and queued (degraded).
	ProblemFleetUnreachable = "fleet_unreachable"
)

// PCSC is the PC/SC part of the report.
type PCSC struct {
	State PCSCState `json:"state"`
	// Since is when the state last changed.
	Since time.Time `json:"since,omitzero"`
}

// Reader is one watched reader.
type Reader struct {
	Name        string `json:"name"`
	CardPresent bool   `json:"card_present"`
}

// Store is the embedded store's part: OK false means taps cannot be
// recorded (and so not judged for replays).
type Store struct {
	OK bool `json:"ok"`
}

// Remote is the remote verification API's part.
type Remote struct {
	Configured bool `json:"configured"`
	Reachable  bool `json:"reachable"`
	// LastOK is the time of the last successful request.
	LastOK time.Time `json:"last_ok,omitzero"`
	// OutboxDepth is how many results wait to be sent.
	OutboxDepth int `json:"outbox_depth"`
}

// Report is the /healthz document.
// Fleet is the fleet link (docs/fleet.md): whether the database
// answers, and what waits for it.
type Fleet struct {
	Configured bool `json:"configured"`
	Connected  bool `json:"connected"`
	// QueuedAdvances are counters decided while the fleet was away;
	// UnshippedTaps audit rows not in the fleet's log yet.
	QueuedAdvances int `json:"queued_advances"`
	UnshippedTaps  int `json:"unshipped_taps"`
	// OldestUnshippedSeconds is the age of the oldest of them; 0 when
	// none waits.
	OldestUnshippedSeconds float64 `json:"oldest_unshipped_seconds"`
}

type Report struct {
	Service  string    `json:"service"`
	Status   Status    `json:"status"`
	Problems []string  `json:"problems"`
	Version  string    `json:"version"`
	Time     time.Time `json:"time"`
	PCSC     PCSC      `json:"pcsc"`
	Readers  []Reader  `json:"readers"`
	Store    Store     `json:"store"`
	Remote   Remote    `json:"remote"`
	Fleet    Fleet     `json:"fleet,omitzero"` // absent without [fleet]
}

// OutboxBacklogLimit is the outbox depth from which the report is degraded.
const OutboxBacklogLimit = 100

// Evaluate fills in Service, Status and Problems from the other fields:
//
//   - unavailable (503) when taps cannot be served: PC/SC is neither
//     running nor simulated, no reader is connected, or the store failed;
//   - degraded (200) when taps are served but a configured remote API is
//     unreachable or the outbox is backing up;
//   - ok otherwise.
func (r *Report) Evaluate() {
	r.Service = ServiceName
	r.Problems = []string{}
	if r.Readers == nil {
		r.Readers = []Reader{}
	}
	down := false
	switch r.PCSC.State {
	case PCSCRunning, PCSCSimulated:
		if len(r.Readers) == 0 {
			r.Problems, down = append(r.Problems, ProblemNoReaders), true
		}
	case PCSCDenied:
		r.Problems, down = append(r.Problems, ProblemPCSCDenied), true
	default:
		r.Problems, down = append(r.Problems, ProblemPCSCUnavailable), true
	}
	if !r.Store.OK {
		r.Problems, down = append(r.Problems, ProblemStore), true
	}
	degraded := false
	if r.Remote.Configured && !r.Remote.Reachable {
		r.Problems, degraded = append(r.Problems, ProblemRemoteUnreachable), true
	}
	if r.Fleet.Configured && !r.Fleet.Connected {
		r.Problems, degraded = append(r.Problems, ProblemFleetUnreachable), true
	}
	if r.Remote.OutboxDepth >= OutboxBacklogLimit {
		r.Problems, degraded = append(r.Problems, ProblemOutboxBacklog), true
	}
	switch {
	case down:
		r.Status = StatusUnavailable
	case degraded:
		r.Status = StatusDegraded
	default:
		r.Status = StatusOK
	}
}

// Code is the HTTP status for the report: 503 when unavailable.
func (r *Report) Code() int {
	if r.Status == StatusUnavailable {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// Handler serves the report that current returns, evaluated, as JSON with
// its status code. GET and HEAD only; never cached.
func Handler(current func(ctx context.Context) Report) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		r := current(req.Context())
		r.Evaluate()
		b, err := json.Marshal(r)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(r.Code())
		if req.Method == http.MethodGet {
			w.Write(append(b, '\n'))
		}
	})
}
