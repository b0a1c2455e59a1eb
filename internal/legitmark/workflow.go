package legitmark

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Workflow is the station flow of remote-apis.md §4.1 on top of a Client:
// create an SR for a tapped item, read its photo requirements, prepare and
// upload the images (up to four at once, with progress), submit once
// progress is met, and poll the status to a settled state. Every step is
// recorded in a Journal first, so that after a restart Records lists the SRs
// in progress, Settle resolves a create or submit whose answer was lost, a
// repeated Upload skips the sides already uploaded, and Resume restarts
// status polling. The WebSocket API and the CLI both drive it.
type Workflow struct {
	c        *Client
	j        Journal
	log      *zap.Logger
	images   ImageLimits
	parallel int
	pollMin  time.Duration
	pollMax  time.Duration
}

// NewWorkflow returns a workflow over c that records its steps in j.
func NewWorkflow(c *Client, j Journal, log *zap.Logger) *Workflow {
	if log == nil {
		log = zap.NewNop()
	}
	cfg := c.Config()
	return &Workflow{
		c: c, j: j, log: log.Named("legitmark.workflow"), images: DefaultImageLimits,
		parallel: cfg.ParallelUploads, pollMin: cfg.PollMin, pollMax: cfg.PollMax,
	}
}

// Client returns the workflow's client.
func (w *Workflow) Client() *Client { return w.c }

// Journal returns the workflow's journal.
func (w *Workflow) Journal() Journal { return w.j }

func (w *Workflow) append(ctx context.Context, e Entry) error {
	e.At = w.c.now()
	if err := w.j.Append(ctx, e); err != nil {
		w.log.Error("journal append failed", zap.String("kind", string(e.Kind)), zap.Error(err))
		return err
	}
	return nil
}

// Records returns the SRs the journal knows, folded (for `sr list`).
func (w *Workflow) Records(ctx context.Context) ([]*Record, error) {
	es, err := w.j.Entries(ctx)
	if err != nil {
		return nil, err
	}
	return Fold(es), nil
}

func (w *Workflow) record(ctx context.Context, uuid, reference string) (*Record, error) {
	rs, err := w.Records(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if (uuid != "" && r.UUID == uuid) || (uuid == "" && reference != "" && r.Reference == reference) {
			return r, nil
		}
	}
	return nil, nil
}

// CreateRequest is what the station supplies for a new SR: a reference
// unique to this SR (non-PII, e.g. "kiosk42-<ulid>"), the UID of the last
// authentic tap (kept in the journal, not sent), and the taxonomy choice.
type CreateRequest struct {
	Reference string
	TagUID    string
	Service   string
	Category  string
	Type      string
	Brand     string
	Model     string
}

var (
	referencePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)
	tagUIDPattern    = regexp.MustCompile(`^[0-9A-Fa-f]{0,32}$`)
)

// Create creates the SR. A repeated Create with the same reference returns
// the SR already created (a double click, or a retry after a lost answer)
// instead of a second one.
func (w *Workflow) Create(ctx context.Context, req CreateRequest) (*Record, error) {
	if !referencePattern.MatchString(req.Reference) {
		return nil, errors.Join(ErrBadInput, errors.New("legitmark: reference must be 1–100 letters, digits or ._:-"))
	}
	if !tagUIDPattern.MatchString(req.TagUID) {
		return nil, errors.Join(ErrBadInput, errors.New("legitmark: tag UID must be hex"))
	}
	if prev, err := w.record(ctx, "", req.Reference); err != nil {
		return nil, err
	} else if prev != nil {
		switch prev.Phase {
		case PhaseCreating:
			return w.Settle(ctx, prev)
		case PhaseAbandoned:
		default:
			return prev, nil
		}
	}
	if err := w.append(ctx, Entry{Kind: EntryCreating, Reference: req.Reference, TagUID: req.TagUID}); err != nil {
		return nil, err
	}
	sr, err := w.c.CreateSR(ctx, CreateSR{ReferenceID: req.Reference, Service: req.Service, Category: req.Category,
		Type: req.Type, Brand: req.Brand, Model: req.Model, Source: "api"})
	if err != nil {
		if !errors.Is(err, ErrAmbiguous) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			_ = w.append(ctx, Entry{Kind: EntryAbandoned, Reference: req.Reference})
		}
		return nil, err
	}
	w.log.Info("sr created", zap.String("sr", sr.UUID), zap.String("micro_id", string(sr.MicroID)))
	if err := w.append(ctx, Entry{Kind: EntryCreated, Reference: req.Reference, UUID: sr.UUID, MicroID: string(sr.MicroID), State: sr.State}); err != nil {
		return nil, err
	}
	return w.record(ctx, sr.UUID, "")
}

// Requirements are an SR's photo requirements with their template images.
type Requirements struct {
	SR       string
	State    State
	Required []Side
	Optional []Side
	Progress Progress
}

// Missing returns the required sides without an image.
func (r *Requirements) Missing() []Side {
	s := Sides{Required: r.Required}
	return s.Missing()
}

// Requirements reads the sides to photograph (GET /api/v2/sr/{uuid} with
// item, sides and requirements), falling back to the side-groups endpoint
// when the SR comes without sides.
func (w *Workflow) Requirements(ctx context.Context, uuid string) (*Requirements, error) {
	sr, err := w.c.GetSR(ctx, uuid, IncludeRequirements)
	if err != nil {
		return nil, err
	}
	req := &Requirements{SR: sr.UUID, State: sr.State}
	if sr.Sides != nil && len(sr.Sides.Required)+len(sr.Sides.Optional) > 0 {
		req.Required, req.Optional = sr.Sides.Required, sr.Sides.Optional
		if sr.Sides.Progress != nil {
			req.Progress = *sr.Sides.Progress
			return req, nil
		}
	} else {
		groups, err := w.c.SideGroups(ctx, uuid)
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			for _, s := range g.Sides {
				if s.SideGroupName == "" {
					s.SideGroupName = g.Name
				}
				if s.Required {
					req.Required = append(req.Required, s)
				} else {
					req.Optional = append(req.Optional, s)
				}
			}
		}
	}
	p, err := w.c.Progress(ctx, uuid)
	if err != nil {
		return nil, err
	}
	req.Progress = p.Progress
	return req, nil
}

// SideImage is one image for a side, named by side UUID or side name (a
// file "box-label.png" names the side "Box Label").
type SideImage struct {
	Side string
	Data []byte
	// Prepared, if set, is Data already prepared (PrepareImage) by the
	// caller, which is then not done again; Data is ignored.
	Prepared *Image
}

// UploadProgress reports one side's upload. Bytes/Total are this attempt's
// bytes sent; Done is set once with Err nil (uploaded or skipped) or the
// failure.
type UploadProgress struct {
	SR       string
	Side     string
	SideName string
	Bytes    int64
	Total    int64
	Done     bool
	Skipped  bool  // already uploaded (journal and server agree)
	Err      error // with Done: the failure (a *SideError)
}

// UploadResult summarises an Upload.
type UploadResult struct {
	Uploaded []string // side names
	Skipped  []string
	Failed   []*SideError
	Progress Progress
}

// SideKey normalises a side name or file stem for matching: lower case,
// runs of other characters as one "-" ("Box Label" and "box-label" match).
func SideKey(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// MatchSide finds a side by UUID or by SideKey of its name.
func MatchSide(sides []Side, key string) (Side, bool) {
	for _, s := range sides {
		if s.UUID == key {
			return s, true
		}
	}
	k := SideKey(key)
	for _, s := range sides {
		if k != "" && SideKey(s.Name) == k {
			return s, true
		}
	}
	return Side{}, false
}

// Upload prepares and uploads images, at most ParallelUploads at a time.
// progress (may be nil) is called from one goroutine at a time. A side whose
// same image was uploaded before (journal) and which the server still has
// is skipped; a side the server lost (QC rejection clears it) is uploaded
// again. The error joins one *SideError per failed side.
func (w *Workflow) Upload(ctx context.Context, uuid string, images []SideImage, progress func(UploadProgress)) (*UploadResult, error) {
	req, err := w.Requirements(ctx, uuid)
	if err != nil {
		return nil, err
	}
	if req.State.Final() {
		return nil, ErrAlreadyFinal
	}
	rec, err := w.record(ctx, uuid, "")
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		res  = &UploadResult{}
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(1, min(w.parallel, 4)))
		all  = append(append([]Side(nil), req.Required...), req.Optional...)
		seen = map[string]bool{}
	)
	report := func(p UploadProgress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Done {
			switch {
			case p.Err != nil:
				var se *SideError
				if errors.As(p.Err, &se) {
					res.Failed = append(res.Failed, se)
				}
			case p.Skipped:
				res.Skipped = append(res.Skipped, p.SideName)
			default:
				res.Uploaded = append(res.Uploaded, p.SideName)
			}
		}
		if progress != nil {
			progress(p)
		}
	}
	for _, in := range images {
		side, ok := MatchSide(all, in.Side)
		if !ok || seen[side.UUID] {
			e := &SideError{SideName: in.Side, Err: ErrUnknownSide}
			if ok {
				e = &SideError{Side: side.UUID, SideName: side.Name, Err: errors.Join(ErrBadInput, errors.New("two images for one side"))}
			}
			report(UploadProgress{SR: uuid, Side: e.Side, SideName: in.Side, Done: true, Err: e})
			continue
		}
		seen[side.UUID] = true
		wg.Add(1)
		go func(side Side, in SideImage) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				report(UploadProgress{SR: uuid, Side: side.UUID, SideName: side.Name, Done: true,
					Err: &SideError{Side: side.UUID, SideName: side.Name, Err: ctx.Err()}})
				return
			}
			defer func() { <-sem }()
			report(w.uploadOne(ctx, uuid, side, in, rec, report))
		}(side, in)
	}
	wg.Wait()
	var errs []error
	for _, f := range res.Failed {
		errs = append(errs, f)
	}
	if p, err := w.c.Progress(ctx, uuid); err == nil {
		res.Progress = p.Progress
	} else {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

func (w *Workflow) uploadOne(ctx context.Context, uuid string, side Side, in SideImage, rec *Record, report func(UploadProgress)) UploadProgress {
	done := UploadProgress{SR: uuid, Side: side.UUID, SideName: side.Name, Done: true}
	img, err := in.Prepared, error(nil)
	if img == nil {
		img, err = w.images.Prepare(in.Data)
	}
	if err != nil {
		done.Err = &SideError{Side: side.UUID, SideName: side.Name, Err: err}
		return done
	}
	total := int64(len(img.Data))
	done.Bytes, done.Total = total, total
	if rec != nil {
		// Uploaded before with the same bytes, and the server still has it:
		// not again. (QC rejection clears a side; then it goes again.)
		if prev, ok := rec.Sides[side.UUID]; ok && prev.Digest == img.Digest() && side.HasMedia() {
			done.Skipped = true
			return done
		}
	}
	report(UploadProgress{SR: uuid, Side: side.UUID, SideName: side.Name, Total: total})
	err = w.c.UploadSide(ctx, uuid, side.UUID, img, func(sent int64) {
		report(UploadProgress{SR: uuid, Side: side.UUID, SideName: side.Name, Bytes: sent, Total: total})
	})
	if err != nil {
		w.log.Warn("side upload failed", zap.String("sr", uuid), zap.String("side", side.Name), zap.String("code", ErrorCode(err)))
		done.Err = &SideError{Side: side.UUID, SideName: side.Name, Err: err}
		return done
	}
	if err := w.append(ctx, Entry{Kind: EntrySideUploaded, UUID: uuid, Side: side.UUID, SideName: side.Name,
		Digest: img.Digest(), Size: len(img.Data)}); err != nil {
		done.Err = &SideError{Side: side.UUID, SideName: side.Name, Err: err}
	}
	return done
}

// Submit submits the SR once its progress is met; otherwise it returns a
// *NotMetError listing the required sides still missing, without a request
// to the submit endpoint. Submitting an SR already submitted returns its
// record; a final SR is ErrAlreadyFinal.
func (w *Workflow) Submit(ctx context.Context, uuid string) (*Record, error) {
	req, err := w.Requirements(ctx, uuid)
	if err != nil {
		return nil, err
	}
	switch {
	case req.State.Final():
		return nil, ErrAlreadyFinal
	case !req.State.Draft() && !req.State.NeedsResubmission():
		_ = w.append(ctx, Entry{Kind: EntryStatus, UUID: uuid, State: req.State})
		return w.record(ctx, uuid, "")
	}
	if !req.Progress.Met {
		// Ask the dedicated endpoint before refusing: the SR's embedded
		// progress may lag, and its media lists may be absent.
		if p, err := w.c.Progress(ctx, uuid); err == nil && p.Trustworthy() {
			req.Progress = p.Progress
		}
	}
	if !req.Progress.Met {
		return nil, &NotMetError{SR: uuid, Progress: req.Progress, Missing: req.Missing()}
	}
	if err := w.append(ctx, Entry{Kind: EntrySubmitting, UUID: uuid}); err != nil {
		return nil, err
	}
	sr, err := w.c.Submit(ctx, uuid)
	if err != nil {
		if !errors.Is(err, ErrAmbiguous) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			_ = w.append(ctx, Entry{Kind: EntrySubmitFailed, UUID: uuid})
		}
		return nil, err
	}
	w.log.Info("sr submitted", zap.String("sr", uuid), zap.Stringer("state", sr.State))
	if err := w.append(ctx, Entry{Kind: EntrySubmitted, UUID: uuid, State: sr.State}); err != nil {
		return nil, err
	}
	return w.record(ctx, uuid, "")
}

// Status is an SR's status for display.
type Status struct {
	SR                string `json:"uuid"`
	MicroID           string `json:"micro_id,omitempty"`
	State             State  `json:"state"`
	CertificateURL    string `json:"certificate_url,omitempty"`
	Final             bool   `json:"final"`
	Authentic         bool   `json:"authentic"`
	NeedsResubmission bool   `json:"needs_resubmission"`
	Missing           []Side `json:"missing,omitempty"` // with NeedsResubmission: the sides to photograph again
}

// Status reads the SR's status once.
func (w *Workflow) Status(ctx context.Context, uuid string) (Status, error) {
	sr, err := w.c.GetSR(ctx, uuid, Include{})
	if err != nil {
		return Status{}, err
	}
	st := Status{SR: sr.UUID, MicroID: string(sr.MicroID), State: sr.State, CertificateURL: sr.CertificateURL,
		Final: sr.State.Final(), Authentic: sr.State.Authentic(), NeedsResubmission: sr.State.NeedsResubmission()}
	if st.NeedsResubmission {
		if req, err := w.Requirements(ctx, uuid); err == nil {
			st.Missing = req.Missing()
		}
	}
	return st, nil
}

// permanent reports errors that polling cannot outwait.
func permanent(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) ||
		errors.Is(err, ErrValidation) || errors.Is(err, ErrBadInput) || errors.Is(err, ErrConfig)
}

// Watch polls the SR until it settles (final, or QC rejected and waiting for
// a resubmission) and returns the settled status. fn (may be nil) gets the
// first status and every change. The interval starts at poll_min, grows by
// half on each unchanged poll up to poll_max, with ±10% jitter, and starts
// over on a change; transient failures are outwaited, permanent ones
// returned.
func (w *Workflow) Watch(ctx context.Context, uuid string, fn func(Status)) (Status, error) {
	var (
		last     Status
		have     bool
		interval = w.pollMin
	)
	for {
		st, err := w.Status(ctx, uuid)
		switch {
		case err != nil && (permanent(err) || ctx.Err() != nil):
			return last, err
		case err != nil:
			w.log.Warn("status poll failed", zap.String("sr", uuid), zap.String("code", ErrorCode(err)))
		case !have || st.State != last.State || st.CertificateURL != last.CertificateURL:
			have, last, interval = true, st, w.pollMin
			_ = w.append(ctx, Entry{Kind: EntryStatus, UUID: uuid, MicroID: st.MicroID, State: st.State, CertificateURL: st.CertificateURL})
			if fn != nil {
				fn(st)
			}
		default:
			interval = min(interval*3/2, w.pollMax)
		}
		if have && (last.Final || last.NeedsResubmission) {
			return last, nil
		}
		d := time.Duration(float64(interval) * (0.9 + 0.2*w.c.rand()))
		if err := sleep(ctx, d); err != nil {
			return last, err
		}
	}
}

// Settle resolves a record whose create or submit has no known outcome by
// reading state: a creating record is looked up by its reference
// (created, or abandoned when the server does not know it); a submitting one
// is read (submitted unless still DRAFT or QC/REJECTED).
func (w *Workflow) Settle(ctx context.Context, r *Record) (*Record, error) {
	switch r.Phase {
	case PhaseCreating:
		sr, err := w.c.Find(ctx, r.Reference)
		switch {
		case err == nil:
			if err := w.append(ctx, Entry{Kind: EntryCreated, Reference: r.Reference, UUID: sr.UUID, MicroID: string(sr.MicroID), State: sr.State}); err != nil {
				return nil, err
			}
			return w.record(ctx, sr.UUID, "")
		case errors.Is(err, ErrNotFound):
			if err := w.append(ctx, Entry{Kind: EntryAbandoned, Reference: r.Reference}); err != nil {
				return nil, err
			}
			return w.record(ctx, "", r.Reference)
		default:
			return nil, err
		}
	case PhaseSubmitting:
		sr, err := w.c.GetSR(ctx, r.UUID, Include{})
		if err != nil {
			return nil, err
		}
		kind := EntrySubmitted
		if sr.State.Draft() || sr.State.NeedsResubmission() {
			kind = EntrySubmitFailed
		}
		if err := w.append(ctx, Entry{Kind: kind, UUID: r.UUID, State: sr.State}); err != nil {
			return nil, err
		}
		return w.record(ctx, r.UUID, "")
	}
	return r, nil
}

// Resume settles every open record after a restart and polls each submitted
// SR until it settles, calling fn with status changes. It returns when
// nothing is left to watch or ctx is done (which is not an error).
func (w *Workflow) Resume(ctx context.Context, fn func(Status)) error {
	rs, err := w.Records(ctx)
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, r := range rs {
		if !r.Open() {
			continue
		}
		settled, err := w.Settle(ctx, r)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("settle failed", zap.String("reference", r.Reference), zap.String("code", ErrorCode(err)))
			errs = append(errs, err)
			continue
		}
		r = settled
		if r.Phase != PhaseSubmitted {
			continue // drafts wait for images; resubmissions for new photos
		}
		wg.Add(1)
		go func(uuid string) {
			defer wg.Done()
			var f func(Status)
			if fn != nil {
				f = func(s Status) { mu.Lock(); defer mu.Unlock(); fn(s) }
			}
			if _, err := w.Watch(ctx, uuid, f); err != nil && ctx.Err() == nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(r.UUID)
	}
	wg.Wait()
	return errors.Join(errs...)
}
