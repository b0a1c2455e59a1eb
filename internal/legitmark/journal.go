package legitmark

import (
	"context"
	"sync"
	"time"
)

// Journal is where the workflow records each step of an SR before and after
// it talks to the server, so that an SR in progress survives a restart or a
// kill -9: Append must be durable when it returns, and must be safe for
// concurrent use. The daemon's store implements it (phase 2); MemJournal is
// the in-memory implementation.
type Journal interface {
	Append(ctx context.Context, e Entry) error
	Entries(ctx context.Context) ([]Entry, error)
}

// EntryKind names a workflow step.
type EntryKind string

// Journal entry kinds, in the order an SR goes through them.
const (
	EntryCreating     EntryKind = "creating"      // about to POST /api/v2/sr (Reference, TagUID)
	EntryCreated      EntryKind = "created"       // the SR exists (UUID, MicroID, State)
	EntryAbandoned    EntryKind = "abandoned"     // the create provably did not happen
	EntrySideUploaded EntryKind = "side_uploaded" // one side's image is in S3 (Side, Digest, Size)
	EntrySubmitting   EntryKind = "submitting"    // about to POST …/submit
	EntrySubmitted    EntryKind = "submitted"     // submit confirmed (State)
	EntrySubmitFailed EntryKind = "submit_failed" // submit provably did not happen
	EntryStatus       EntryKind = "status"        // a state read while polling (State, CertificateURL)
)

// Entry is one journal record. It holds no secret and no PII: the reference
// is a station identifier and the tag UID a public tag serial.
type Entry struct {
	Kind           EntryKind `json:"kind"`
	At             time.Time `json:"at"`
	Reference      string    `json:"reference,omitempty"`
	UUID           string    `json:"uuid,omitempty"`
	MicroID        string    `json:"micro_id,omitempty"`
	TagUID         string    `json:"tag_uid,omitempty"`
	Side           string    `json:"side,omitempty"`
	SideName       string    `json:"side_name,omitempty"`
	Digest         string    `json:"digest,omitempty"`
	Size           int       `json:"size,omitempty"`
	State          State     `json:"state,omitzero"`
	CertificateURL string    `json:"certificate_url,omitempty"`
}

// Phase is where an SR stands in the station workflow.
type Phase string

// Phases. Creating and Submitting mean the outcome of that request is not
// known yet: Workflow.Settle resolves them by reading state.
const (
	PhaseCreating   Phase = "creating"
	PhaseDraft      Phase = "draft"
	PhaseSubmitting Phase = "submitting"
	PhaseSubmitted  Phase = "submitted"
	PhaseResubmit   Phase = "resubmit" // QC rejected sides: upload them again and submit
	PhaseFinal      Phase = "final"
	PhaseAbandoned  Phase = "abandoned"
)

// SideRecord is an uploaded side.
type SideRecord struct {
	Name   string    `json:"name"`
	Digest string    `json:"digest"`
	Size   int       `json:"size"`
	At     time.Time `json:"at"`
}

// Record is an SR's state folded from the journal.
type Record struct {
	Reference      string                `json:"reference"`
	TagUID         string                `json:"tag_uid,omitempty"`
	UUID           string                `json:"uuid,omitempty"`
	MicroID        string                `json:"micro_id,omitempty"`
	Phase          Phase                 `json:"phase"`
	State          State                 `json:"state"`
	CertificateURL string                `json:"certificate_url,omitempty"`
	Sides          map[string]SideRecord `json:"sides,omitempty"` // by side UUID
	Created        time.Time             `json:"created"`
	Updated        time.Time             `json:"updated"`
}

// Open reports whether the record still needs work or watching.
func (r *Record) Open() bool { return r.Phase != PhaseFinal && r.Phase != PhaseAbandoned }

// Fold replays entries into one record per SR, in order of first
// appearance. Entries are matched by UUID once known, else by reference.
func Fold(entries []Entry) []*Record {
	var (
		out    []*Record
		byUUID = map[string]*Record{}
		byRef  = map[string]*Record{}
	)
	for _, e := range entries {
		r := byUUID[e.UUID]
		if r == nil && e.Reference != "" {
			r = byRef[e.Reference]
			if r != nil && r.UUID != "" && e.UUID != "" && r.UUID != e.UUID {
				r = nil // the reference was reused for another SR
			}
		}
		if r == nil {
			if e.UUID == "" && e.Reference == "" {
				continue
			}
			r = &Record{Reference: e.Reference, Phase: PhaseDraft, Created: e.At, Sides: map[string]SideRecord{}}
			if e.Reference == "" {
				r.Reference = e.UUID
			}
			out = append(out, r)
		}
		if e.Reference != "" && r.Reference == "" {
			r.Reference = e.Reference
		}
		byRef[r.Reference] = r
		if e.UUID != "" && r.UUID == "" {
			r.UUID = e.UUID
		}
		if r.UUID != "" {
			byUUID[r.UUID] = r
		}
		if e.TagUID != "" {
			r.TagUID = e.TagUID
		}
		if e.MicroID != "" {
			r.MicroID = e.MicroID
		}
		if e.CertificateURL != "" {
			r.CertificateURL = e.CertificateURL
		}
		if e.State.Primary != "" {
			r.State = e.State
		}
		r.Updated = e.At
		switch e.Kind {
		case EntryCreating:
			r.Phase = PhaseCreating
		case EntryCreated, EntrySubmitFailed:
			r.Phase = PhaseDraft
		case EntryAbandoned:
			r.Phase = PhaseAbandoned
		case EntrySideUploaded:
			r.Sides[e.Side] = SideRecord{Name: e.SideName, Digest: e.Digest, Size: e.Size, At: e.At}
		case EntrySubmitting:
			r.Phase = PhaseSubmitting
		case EntrySubmitted:
			r.Phase = PhaseSubmitted
		}
		if e.State.Primary != "" && (e.Kind == EntryStatus || e.Kind == EntrySubmitted || e.Kind == EntryCreated) {
			switch {
			case e.State.Final():
				r.Phase = PhaseFinal
			case e.State.NeedsResubmission():
				r.Phase = PhaseResubmit
			case e.State.Draft():
				if r.Phase != PhaseSubmitting {
					r.Phase = PhaseDraft
				}
			case r.Phase != PhaseSubmitting:
				r.Phase = PhaseSubmitted
			}
		}
	}
	return out
}

// MemJournal is an in-memory Journal, for tests and for running without a
// store (nothing survives a restart).
type MemJournal struct {
	mu      sync.Mutex
	entries []Entry
}

// Append records e.
func (m *MemJournal) Append(_ context.Context, e Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

// Entries returns a copy of the entries.
func (m *MemJournal) Entries(context.Context) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Entry(nil), m.entries...), nil
}
