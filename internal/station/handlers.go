package station

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/ws"
)

// ---- views: what the browser sees (no secrets, no presigned URLs) ----

// sideView is a side as the page shows it. The guide URLs point at the
// daemon (MediaHandler), never at the CDN.
type sideView struct {
	UUID        string `json:"uuid"`
	Name        string `json:"name"`
	Key         string `json:"key"` // legitmark.SideKey(name): the file name stem the CLI uses
	Description string `json:"description,omitempty"`
	Group       string `json:"group,omitempty"`
	Required    bool   `json:"required"`
	OverlayURL  string `json:"overlay_url,omitempty"`
	ExampleURL  string `json:"example_url,omitempty"`
	Uploaded    bool   `json:"uploaded"`
}

func sideViews(sides []legitmark.Side, m *media) []sideView {
	out := make([]sideView, 0, len(sides))
	for _, sd := range sides {
		v := sideView{UUID: sd.UUID, Name: sd.Name, Key: legitmark.SideKey(sd.Name), Description: sd.Description,
			Group: sd.SideGroupName, Required: sd.Required, Uploaded: sd.HasMedia()}
		if m != nil {
			v.OverlayURL = m.link(sd.OverlayImage)
			v.ExampleURL = m.link(sd.ExampleImage)
		}
		out = append(out, v)
	}
	return out
}

// stateView is an SR's two-part state.
type stateView struct {
	Primary    string `json:"primary"`
	Supplement string `json:"supplement,omitempty"`
	Text       string `json:"text"` // "PRIMARY/SUPPLEMENT"
}

func stateViewOf(st legitmark.State) stateView {
	return stateView{Primary: st.Primary, Supplement: st.Supplement, Text: st.String()}
}

// recordView is an SR the station knows (sr.create, sr.submit, sr.list).
type recordView struct {
	Reference      string    `json:"reference"`
	UUID           string    `json:"uuid,omitempty"`
	MicroID        string    `json:"micro_id,omitempty"`
	TagUID         string    `json:"tag_uid,omitempty"`
	Phase          string    `json:"phase"`
	State          stateView `json:"state"`
	CertificateURL string    `json:"certificate_url,omitempty"`
	SidesUploaded  int       `json:"sides_uploaded"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
}

func recordViewOf(r *legitmark.Record) recordView {
	return recordView{Reference: r.Reference, UUID: r.UUID, MicroID: r.MicroID, TagUID: r.TagUID, Phase: string(r.Phase),
		State: stateViewOf(r.State), CertificateURL: r.CertificateURL, SidesUploaded: len(r.Sides),
		Created: r.Created.UTC(), Updated: r.Updated.UTC()}
}

// statusView is an SR's status (sr.status result and event).
type statusView struct {
	UUID              string     `json:"uuid"`
	MicroID           string     `json:"micro_id,omitempty"`
	State             stateView  `json:"state"`
	Final             bool       `json:"final"`
	Authentic         bool       `json:"authentic"`
	NeedsResubmission bool       `json:"needs_resubmission"`
	CertificateURL    string     `json:"certificate_url,omitempty"`
	Missing           []sideView `json:"missing,omitempty"`
}

func statusViewOf(st legitmark.Status) statusView {
	v := statusView{UUID: st.SR, MicroID: st.MicroID, State: stateViewOf(st.State), Final: st.Final,
		Authentic: st.Authentic, NeedsResubmission: st.NeedsResubmission, CertificateURL: st.CertificateURL}
	if len(st.Missing) > 0 {
		v.Missing = sideViews(st.Missing, nil)
	}
	return v
}

// ---- payloads ----

// decode reads a request payload strictly: unknown fields are refused.
func decode(r *ws.Request, v any) error {
	dec := json.NewDecoder(bytes.NewReader(r.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(r.Type + " payload")
	}
	return nil
}

type uuidPayload struct {
	UUID string `json:"uuid"`
}

func (p uuidPayload) valid() bool { return validID(p.UUID) }

// validID accepts the identifiers the API uses (UUIDs and the like).
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ---- handlers ----

func (s *Station) handleTaxonomy(ctx context.Context, r *ws.Request) (any, error) {
	if err := decode(r, &struct{}{}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	t, at := s.taxonomy, s.taxAt
	s.mu.Unlock()
	if t != nil && s.now().Sub(at) < taxonomyTTL {
		return t, nil
	}
	v, err := s.remote(ctx, func(ctx context.Context) (any, error) { return LoadTaxonomy(ctx, s.c) })
	if err != nil {
		return nil, s.fail(r.Type, err)
	}
	t = v.(*Taxonomy)
	s.mu.Lock()
	s.taxonomy, s.taxAt = t, s.now()
	s.mu.Unlock()
	return t, nil
}

type createPayload struct {
	Category string `json:"category"`
	Type     string `json:"type"`
	Brand    string `json:"brand"`
	Model    string `json:"model"`
	Service  string `json:"service"`
}

func (s *Station) handleCreate(ctx context.Context, r *ws.Request) (any, error) {
	var p createPayload
	if err := decode(r, &p); err != nil {
		return nil, err
	}
	if !validID(p.Category) || !validID(p.Type) {
		return nil, badRequest("category or type")
	}
	for _, v := range []string{p.Brand, p.Model, p.Service} {
		if v != "" && !validID(v) {
			return nil, badRequest("brand, model or service")
		}
	}
	uid, ok := s.tapUID()
	if !ok {
		return nil, stationErr(CodeNoAuthenticTap)
	}
	ref, err := s.Reference()
	if err != nil {
		return nil, err
	}
	v, err := s.remote(ctx, func(ctx context.Context) (any, error) {
		return s.w.Create(ctx, legitmark.CreateRequest{Reference: ref, TagUID: uid, Service: p.Service,
			Category: p.Category, Type: p.Type, Brand: p.Brand, Model: p.Model})
	})
	if err != nil {
		return nil, s.fail(r.Type, err)
	}
	return recordViewOf(v.(*legitmark.Record)), nil
}

// Reference returns a new SR reference: "<station_id>-<ULID>".
func (s *Station) Reference() (string, error) { return reference(s.station, s.now(), s.rand) }

// NewReference returns a new SR reference for a station, as the daemon
// makes them: "<station_id>-<ULID>" (for the CLI).
func NewReference(stationID string) (string, error) {
	return reference(stationID, time.Now(), rand.Reader)
}

func reference(station string, now time.Time, r io.Reader) (string, error) {
	id, err := newULID(now, r)
	if err != nil {
		return "", err
	}
	return station + "-" + id, nil
}

// requirementsResult is the result of sr.requirements.
type requirementsResult struct {
	UUID     string             `json:"uuid"`
	State    stateView          `json:"state"`
	Required []sideView         `json:"required"`
	Optional []sideView         `json:"optional"`
	Progress legitmark.Progress `json:"progress"`
}

func (s *Station) handleRequirements(ctx context.Context, r *ws.Request) (any, error) {
	var p uuidPayload
	if err := decode(r, &p); err != nil {
		return nil, err
	}
	if !p.valid() {
		return nil, badRequest("uuid")
	}
	v, err := s.remote(ctx, func(ctx context.Context) (any, error) { return s.w.Requirements(ctx, p.UUID) })
	if err != nil {
		return nil, s.fail(r.Type, err)
	}
	req := v.(*legitmark.Requirements)
	s.noteSides(p.UUID, append(append([]legitmark.Side(nil), req.Required...), req.Optional...))
	return requirementsResult{UUID: req.SR, State: stateViewOf(req.State), Required: sideViews(req.Required, s.media),
		Optional: sideViews(req.Optional, s.media), Progress: req.Progress}, nil
}

// noteSides remembers an SR's sides for upload.begin.
func (s *Station) noteSides(uuid string, sides []legitmark.Side) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) > 64 {
		clear(s.reqs)
	}
	s.reqs[uuid] = sides
}

// side finds a side of an SR by UUID, reading the requirements when the
// station has not yet.
func (s *Station) side(ctx context.Context, uuid, side string) (legitmark.Side, error) {
	s.mu.Lock()
	sides, ok := s.reqs[uuid]
	s.mu.Unlock()
	if !ok {
		req, err := s.w.Requirements(ctx, uuid)
		if err != nil {
			return legitmark.Side{}, err
		}
		sides = append(append([]legitmark.Side(nil), req.Required...), req.Optional...)
		s.noteSides(uuid, sides)
	}
	for _, sd := range sides {
		if sd.UUID == side {
			return sd, nil
		}
	}
	return legitmark.Side{}, legitmark.ErrUnknownSide
}

func (s *Station) handleSubmit(ctx context.Context, r *ws.Request) (any, error) {
	var p uuidPayload
	if err := decode(r, &p); err != nil {
		return nil, err
	}
	if !p.valid() {
		return nil, badRequest("uuid")
	}
	if s.uploads.busy(p.UUID) {
		// Photos still on their way: the server's progress would say
		// "not met" for them.
		return nil, &ws.Error{Code: "requirements_not_met", Message: "photos are still uploading",
			Details: notMetDetails{Missing: []sideView{}}}
	}
	v, err := s.remote(ctx, func(ctx context.Context) (any, error) { return s.w.Submit(ctx, p.UUID) })
	if err != nil {
		return nil, s.fail(r.Type, err)
	}
	rec := v.(*legitmark.Record)
	if rec.Phase == legitmark.PhaseSubmitted {
		if err := s.spool.drop(p.UUID); err != nil {
			s.log.Warn("spool removal failed", zap.String("sr", p.UUID), zap.Error(err))
		}
		s.watch(p.UUID)
	}
	return recordViewOf(rec), nil
}

func (s *Station) handleStatus(ctx context.Context, r *ws.Request) (any, error) {
	var p uuidPayload
	if err := decode(r, &p); err != nil {
		return nil, err
	}
	if !p.valid() {
		return nil, badRequest("uuid")
	}
	v, err := s.remote(ctx, func(ctx context.Context) (any, error) { return s.w.Status(ctx, p.UUID) })
	if err != nil {
		return nil, s.fail(r.Type, err)
	}
	return statusViewOf(v.(legitmark.Status)), nil
}

// listResult is the result of sr.list: newest first.
type listResult struct {
	SRs []recordView `json:"srs"`
}

// maxList bounds sr.list.
const maxList = 100

func (s *Station) handleList(ctx context.Context, r *ws.Request) (any, error) {
	var p struct {
		Open bool `json:"open"` // only SRs still in progress
	}
	if err := decode(r, &p); err != nil {
		return nil, err
	}
	rs, err := s.w.Records(ctx)
	if err != nil {
		return nil, errors.Join(errInternal, err)
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Created.After(rs[j].Created) })
	out := listResult{SRs: []recordView{}}
	for _, rec := range rs {
		if p.Open && !rec.Open() {
			continue
		}
		if len(out.SRs) == maxList {
			break
		}
		out.SRs = append(out.SRs, recordViewOf(rec))
	}
	return out, nil
}

// fail logs a failed request by its code and returns what the client is
// told.
func (s *Station) fail(typ string, err error) error {
	if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
		return &ws.Error{Code: ws.CodeUnavailable, Message: "the daemon is shutting down"}
	}
	code := codeOf(err)
	s.log.Warn("request failed", zap.String("type", typ), zap.String("code", code), zap.Error(err))
	return wsError(err)
}
