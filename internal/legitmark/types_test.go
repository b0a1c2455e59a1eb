package legitmark_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
)

// The documented quirks decode: micro_id as a number, supplement null,
// item.type "undefined" with the type under item.types, media_url as bare
// strings, offsets in timestamps, unknown fields.
func TestDecodeSRQuirks(t *testing.T) {
	const body = `{"success":true,"sr":{
		"uuid":"u1","micro_id":998001,"legacy_id":null,"external_id":"ITEM-2024-0891","tab":"DRAFT",
		"state":{"primary":"qc","supplement":null},"user":{"uuid":"user-uuid","name":"Ops"},"service":"svc",
		"item":{"category":{"uuid":"c1","name":"Footwear"},"type":"undefined","types":{"uuid":"t1","name":"Sneakers"},"brand":null},
		"sides":{"required":[{"uuid":"s1","name":"Front","required":true,"ordinal":1,"media_url":["https://cdn.example/a.jpg"]},
		                     {"uuid":"s2","name":"Back","required":true,"ordinal":"2","media_url":[{"url":"https://cdn.example/b.jpg","size":12,"is_latest":true,"last_modified":"2026-01-02T03:04:05+00:00"}]},
		                     {"uuid":"s3","name":"Sole","required":true}],
		         "optional":[],"progress":{"current_required":2,"total_required":3,"current_optional":0,"total_optional":0,"met":false}},
		"created_at":"2026-01-02T03:04:05.000Z","updated_at":"2026-01-02 03:04:05","drafted_at":null,"surprise":{"x":1}}}`
	var resp struct {
		SR legitmark.SR `json:"sr"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	sr := resp.SR
	if sr.MicroID != "998001" || sr.LegacyID != "" || sr.State != (legitmark.State{Primary: "QC"}) || sr.User.UUID != "user-uuid" || sr.Service.UUID != "svc" {
		t.Errorf("decoded %+v", sr)
	}
	if got := sr.Item.TypeRef(); got.UUID != "t1" || sr.Item.Brand.UUID != "" {
		t.Errorf("item %+v", sr.Item)
	}
	if len(sr.Sides.Missing()) != 1 || sr.Sides.Missing()[0].Name != "Sole" || sr.Sides.Required[1].MediaURL[0].Size != 12 {
		t.Errorf("sides %+v", sr.Sides)
	}
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if !sr.CreatedAt.Equal(want) || !sr.UpdatedAt.Equal(want) || !sr.DraftedAt.IsZero() || !sr.Sides.Required[1].MediaURL[0].LastModified.Equal(want) {
		t.Errorf("times %v %v %v", sr.CreatedAt, sr.UpdatedAt, sr.DraftedAt)
	}
}

func TestStatePredicates(t *testing.T) {
	for _, tc := range []struct {
		s                                       legitmark.State
		final, authentic, counterfeit, resubmit bool
	}{
		{legitmark.State{Primary: "DRAFT"}, false, false, false, false},
		{legitmark.State{Primary: "QC", Supplement: "PENDING"}, false, false, false, false},
		{legitmark.State{Primary: "QC", Supplement: "REJECTED"}, false, false, false, true},
		{legitmark.State{Primary: "QC", Supplement: "COMPLETE"}, true, false, false, false},
		{legitmark.State{Primary: "UNDERWAY", Supplement: "APPROVED"}, false, false, false, false},
		{legitmark.State{Primary: "COMPLETE", Supplement: "APPROVED"}, true, true, false, false},
		{legitmark.State{Primary: "COMPLETE", Supplement: "REJECTED"}, true, false, true, false},
		{legitmark.State{Primary: "CANCELLED"}, true, false, false, false},
		{legitmark.State{Primary: "QUEUE"}, false, false, false, false},
	} {
		s := tc.s
		if s.Final() != tc.final || s.Authentic() != tc.authentic || s.Counterfeit() != tc.counterfeit || s.NeedsResubmission() != tc.resubmit {
			t.Errorf("%v: final %v authentic %v counterfeit %v resubmit %v", s, s.Final(), s.Authentic(), s.Counterfeit(), s.NeedsResubmission())
		}
	}
}

func TestFold(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	qc := legitmark.State{Primary: "QC", Supplement: "PENDING"}
	es := []legitmark.Entry{
		{Kind: legitmark.EntryCreating, Reference: "r1", TagUID: "04AA", At: at},
		{Kind: legitmark.EntryCreating, Reference: "r2", At: at},
		{Kind: legitmark.EntryAbandoned, Reference: "r2", At: at},
		{Kind: legitmark.EntryCreated, Reference: "r1", UUID: "u1", MicroID: "998001", State: legitmark.State{Primary: "DRAFT"}, At: at},
		{Kind: legitmark.EntrySideUploaded, UUID: "u1", Side: "s1", SideName: "Front", Digest: "d1", At: at},
		{Kind: legitmark.EntrySubmitting, UUID: "u1", At: at},
		{Kind: legitmark.EntrySideUploaded, UUID: "u9", Side: "s1", At: at}, // an SR created elsewhere
		{Kind: legitmark.EntrySubmitted, UUID: "u1", State: qc, At: at},
		{Kind: legitmark.EntryStatus, UUID: "u1", State: legitmark.State{Primary: "QC", Supplement: "REJECTED"}, At: at},
	}
	rs := legitmark.Fold(es)
	if len(rs) != 3 {
		t.Fatalf("Fold = %d records, want 3", len(rs))
	}
	r1, r2, r9 := rs[0], rs[1], rs[2]
	if r1.UUID != "u1" || r1.TagUID != "04AA" || r1.MicroID != "998001" || r1.Phase != legitmark.PhaseResubmit || r1.Sides["s1"].Digest != "d1" {
		t.Errorf("r1 = %+v", r1)
	}
	if r2.Phase != legitmark.PhaseAbandoned || r2.Open() {
		t.Errorf("r2 = %+v", r2)
	}
	if r9.Reference != "u9" || r9.Phase != legitmark.PhaseDraft {
		t.Errorf("r9 = %+v", r9)
	}
	// Prefixes: the phase after each step.
	for n, want := range map[int]legitmark.Phase{1: legitmark.PhaseCreating, 4: legitmark.PhaseDraft, 6: legitmark.PhaseSubmitting, 8: legitmark.PhaseSubmitted} {
		if got := legitmark.Fold(es[:n])[0].Phase; got != want {
			t.Errorf("after %d entries phase %s, want %s", n, got, want)
		}
	}
}
