package station

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/ws"
)

// Upload limits. A photo travels as binary frames of ChunkBytes (the last
// one shorter); a connection may have ChunkWindow of them in flight.
const (
	ChunkBytes       = 256 << 10
	ChunkWindow      = 4
	MaxRawImageBytes = 32 << 20 // a camera's full-size JPEG, before preparation
	MaxBufferedBytes = 96 << 20 // raw bytes held by all uploads together
	uploadIdle       = 2 * time.Minute
	uploadSweep      = 30 * time.Second
)

// Upload stages of legitmark.upload.progress.
const (
	StageReceiving = "receiving"
	StagePreparing = "preparing"
	StageUploading = "uploading"
	StageDone      = "done"
	StageFailed    = "failed"
)

// progressEvent is the payload of legitmark.upload.progress.
type progressEvent struct {
	UUID     string              `json:"uuid"`
	Side     string              `json:"side"`
	SideName string              `json:"side_name"`
	UploadID string              `json:"upload_id,omitempty"` // "" for an upload resumed after a restart
	Stage    string              `json:"stage"`
	Bytes    int64               `json:"bytes"`
	Total    int64               `json:"total"`
	Code     string              `json:"code,omitempty"`
	Message  string              `json:"message,omitempty"`
	Progress *legitmark.Progress `json:"progress,omitempty"` // with done: the SR's progress
}

// uploads are the photos in flight.
type uploads struct {
	s    *Station
	prep chan struct{} // one image is prepared at a time (decoding is memory-hungry)
	send chan struct{} // parallel_uploads PUTs at a time, across SRs

	// begun is signalled when an upload begins, so that Run sweeps
	// only while there are uploads to sweep.
	begun chan struct{}

	mu       sync.Mutex
	byID     map[string]*upload
	buffered int64
	sending  map[string]int // SR → sides being prepared or uploaded
}

// upload is one photo being received.
type upload struct {
	id       string
	sr       string
	side     legitmark.Side
	size     int
	chunks   int
	buf      []byte
	got      []bool
	received int
	last     time.Time
	complete bool
	pub      *throttle
}

func newUploads(s *Station) *uploads {
	return &uploads{
		s: s, prep: make(chan struct{}, 1),
		send:    make(chan struct{}, max(1, min(s.c.Config().ParallelUploads, 4))),
		byID:    map[string]*upload{},
		sending: map[string]int{},
		begun:   make(chan struct{}, 1),
	}
}

// pending reports whether any upload is held.
func (us *uploads) pending() bool {
	us.mu.Lock()
	defer us.mu.Unlock()
	return len(us.byID) > 0
}

// throttle publishes progress: every stage change, and within a stage
// every tenth of the total.
type throttle struct {
	s        *Station
	ev       progressEvent
	mu       sync.Mutex
	lastSent int64
}

func (t *throttle) publish(stage string, bytes, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if stage == t.ev.Stage && bytes < total && bytes-t.lastSent < total/10 {
		return
	}
	t.ev.Stage, t.ev.Bytes, t.ev.Total = stage, bytes, total
	t.lastSent = bytes
	t.s.pub.Publish(EventUploadProgress, t.ev)
}

func (t *throttle) finish(stage, code string, p *legitmark.Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ev.Stage, t.ev.Code, t.ev.Progress = stage, code, p
	if code != "" {
		t.ev.Message = Message(code)
	}
	t.s.pub.Publish(EventUploadProgress, t.ev)
}

// beginPayload is the payload of upload.begin.
type beginPayload struct {
	UUID string `json:"uuid"`
	Side string `json:"side"`
	Size int    `json:"size"`
}

// beginResult is the result of upload.begin.
type beginResult struct {
	UploadID  string `json:"upload_id"`
	ChunkSize int    `json:"chunk_size"`
	Chunks    int    `json:"chunks"`
}

func (s *Station) handleUploadBegin(ctx context.Context, r *ws.Request) (any, error) {
	var p beginPayload
	if err := decode(r, &p); err != nil {
		return nil, err
	}
	if !validID(p.UUID) || !validID(p.Side) || p.Size <= 0 {
		return nil, badRequest("uuid, side or size")
	}
	if p.Size > MaxRawImageBytes {
		return nil, stationErr(CodeUploadTooBig)
	}
	v, err := s.remote(ctx, func(ctx context.Context) (any, error) { return s.side(ctx, p.UUID, p.Side) })
	if err != nil {
		return nil, s.fail(r.Type, err)
	}
	side := v.(legitmark.Side)
	id, err := randomID(s.rand)
	if err != nil {
		return nil, err
	}
	u := &upload{id: id, sr: p.UUID, side: side, size: p.Size, chunks: (p.Size + ChunkBytes - 1) / ChunkBytes, last: s.now()}
	u.pub = &throttle{s: s, ev: progressEvent{UUID: p.UUID, Side: side.UUID, SideName: side.Name, UploadID: id}}
	us := s.uploads
	us.mu.Lock()
	var replaced []*upload
	for _, o := range us.byID {
		if o.sr == u.sr && o.side.UUID == u.side.UUID && !o.complete {
			replaced = append(replaced, o)
			us.release(o)
		}
	}
	if us.buffered+int64(p.Size) > MaxBufferedBytes {
		us.mu.Unlock()
		return nil, stationErr(CodeUploadBusy)
	}
	u.buf, u.got = make([]byte, p.Size), make([]bool, u.chunks)
	us.buffered += int64(p.Size)
	us.byID[id] = u
	us.mu.Unlock()
	select {
	case us.begun <- struct{}{}:
	default:
	}
	for _, o := range replaced {
		o.pub.finish(StageFailed, CodeReplaced, nil)
	}
	u.pub.publish(StageReceiving, 0, int64(p.Size))
	return beginResult{UploadID: id, ChunkSize: ChunkBytes, Chunks: u.chunks}, nil
}

// release forgets an upload and its buffer. us.mu must be held.
func (us *uploads) release(u *upload) {
	if _, ok := us.byID[u.id]; !ok {
		return
	}
	delete(us.byID, u.id)
	if u.buf != nil {
		us.buffered -= int64(u.size)
		u.buf = nil
	}
}

// chunkPayload is the header payload of a legitmark.upload.chunk frame.
type chunkPayload struct {
	UploadID string `json:"upload_id"`
	Seq      int    `json:"seq"`
	Final    bool   `json:"final"`
}

// chunkResult is the result of a chunk.
type chunkResult struct {
	Received int `json:"received"`
	Total    int `json:"total"`
}

func (s *Station) handleUploadChunk(_ context.Context, r *ws.Request) (any, error) {
	var p chunkPayload
	if err := decode(r, &p); err != nil {
		return nil, err
	}
	us := s.uploads
	us.mu.Lock()
	u := us.byID[p.UploadID]
	if u == nil || u.complete {
		us.mu.Unlock()
		return nil, stationErr(CodeUploadUnknown)
	}
	want := ChunkBytes
	if p.Seq == u.chunks-1 {
		want = u.size - (u.chunks-1)*ChunkBytes
	}
	if p.Seq < 0 || p.Seq >= u.chunks || len(r.Data) != want || p.Final != (p.Seq == u.chunks-1) {
		us.mu.Unlock()
		return nil, stationErr(CodeUploadChunk)
	}
	copy(u.buf[p.Seq*ChunkBytes:], r.Data)
	if !u.got[p.Seq] {
		u.got[p.Seq] = true
		u.received += len(r.Data)
	}
	u.last = s.now()
	res := chunkResult{Received: u.received, Total: u.size}
	done := u.received == u.size
	if done {
		u.complete = true
		us.sending[u.sr]++
	}
	us.mu.Unlock()
	// Receiving is announced once, by begin: the client counts its own
	// chunk replies, and the event history is kept for taps.
	if done {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.process(u)
		}()
	}
	return res, nil
}

// process prepares a received photo, spools it and uploads it.
func (s *Station) process(u *upload) {
	us := s.uploads
	defer func() {
		us.mu.Lock()
		us.release(u)
		us.mu.Unlock()
	}()
	u.pub.publish(StagePreparing, int64(u.size), int64(u.size))
	var (
		img *legitmark.Image
		err error
	)
	select {
	case us.prep <- struct{}{}:
		img, err = legitmark.PrepareImage(u.buf)
		<-us.prep
	case <-s.ctx.Done():
		err = s.ctx.Err()
	}
	us.mu.Lock()
	us.release(u) // the raw bytes are no longer needed
	us.mu.Unlock()
	if err != nil {
		us.done(u.sr)
		s.log.Info("photo refused", zap.String("sr", u.sr), zap.String("side", u.side.Name), zap.String("code", legitmark.ErrorCode(err)))
		u.pub.finish(StageFailed, legitmark.ErrorCode(err), nil)
		return
	}
	if err := s.spool.put(u.sr, u.side.UUID, img.Data); err != nil && !errors.Is(err, errSpoolOff) {
		s.log.Warn("photo not spooled; a restart before submit needs it again", zap.String("sr", u.sr), zap.String("side", u.side.Name), zap.Error(err))
	}
	s.send(u.sr, u.side, legitmark.SideImage{Side: u.side.UUID, Prepared: img}, u.pub)
}

// send uploads a prepared photo and reports its progress; the caller has
// counted it in us.sending.
func (s *Station) send(sr string, side legitmark.Side, img legitmark.SideImage, pub *throttle) {
	us := s.uploads
	// The SR counts as busy until the outcome is published, and no longer:
	// a client that sees "done" may submit at once.
	var once sync.Once
	idle := func() { once.Do(func() { us.done(sr) }) }
	defer idle()
	select {
	case us.send <- struct{}{}:
		defer func() { <-us.send }()
	case <-s.ctx.Done():
		return
	}
	total := int64(len(img.Data))
	if img.Prepared != nil {
		total = int64(len(img.Prepared.Data))
	}
	pub.publish(StageUploading, 0, total)
	res, err := s.w.Upload(s.ctx, sr, []legitmark.SideImage{img}, func(p legitmark.UploadProgress) {
		if !p.Done && p.Total > 0 {
			pub.publish(StageUploading, p.Bytes, p.Total)
		}
	})
	if err != nil {
		if s.ctx.Err() != nil {
			return // shutting down: the spool resumes it
		}
		code := legitmark.ErrorCode(err)
		s.log.Warn("photo upload failed", zap.String("sr", sr), zap.String("side", side.Name), zap.String("code", code), zap.Error(err))
		idle()
		pub.finish(StageFailed, code, nil)
		return
	}
	pub.publish(StageUploading, total, total)
	idle()
	pub.finish(StageDone, "", &res.Progress)
}

// done ends an SR's photo in processing.
func (us *uploads) done(sr string) {
	us.mu.Lock()
	defer us.mu.Unlock()
	if us.sending[sr]--; us.sending[sr] <= 0 {
		delete(us.sending, sr)
	}
}

// busy reports whether photos of an SR are still being received,
// prepared or uploaded.
func (us *uploads) busy(sr string) bool {
	us.mu.Lock()
	defer us.mu.Unlock()
	if us.sending[sr] > 0 {
		return true
	}
	for _, u := range us.byID {
		if u.sr == sr {
			return true
		}
	}
	return false
}

// sweep drops uploads that stalled.
func (us *uploads) sweep() {
	now := us.s.now()
	us.mu.Lock()
	var gone []*upload
	for _, u := range us.byID {
		if !u.complete && now.Sub(u.last) > uploadIdle {
			gone = append(gone, u)
			us.release(u)
		}
	}
	us.mu.Unlock()
	for _, u := range gone {
		us.s.log.Info("photo upload stalled; dropped", zap.String("sr", u.sr), zap.String("side", u.side.Name))
		u.pub.finish(StageFailed, CodeUploadExpired, nil)
	}
}

// resumeUploads uploads the photos spooled before a restart for SRs still
// waiting for photos, and removes the spool of SRs that are past that.
func (s *Station) resumeUploads() {
	srs := s.spool.srs()
	if len(srs) == 0 {
		return
	}
	recs, err := s.w.Records(s.ctx)
	if err != nil {
		s.log.Warn("cannot read the journal to resume uploads", zap.Error(err))
		return
	}
	byUUID := map[string]*legitmark.Record{}
	for _, r := range recs {
		if r.UUID != "" {
			byUUID[r.UUID] = r
		}
	}
	for _, sr := range srs {
		var phase legitmark.Phase
		rec := byUUID[sr]
		if rec != nil {
			phase = rec.Phase
		}
		switch phase {
		case legitmark.PhaseDraft, legitmark.PhaseResubmit:
		case legitmark.PhaseCreating, legitmark.PhaseSubmitting:
			continue // Resume settles these first; the next start sees them
		default:
			if err := s.spool.drop(sr); err != nil {
				s.log.Warn("spool removal failed", zap.String("sr", sr), zap.Error(err))
			}
			continue
		}
		for sideID, data := range s.spool.sides(sr) {
			// A draft's side whose photo the journal records as uploaded
			// needs nothing (a QC rejection, which clears photos on the
			// server, only happens after a submit).
			if prev, ok := rec.Sides[sideID]; ok && phase == legitmark.PhaseDraft && prev.Digest == digest(data) {
				continue
			}
			s.uploads.mu.Lock()
			s.uploads.sending[sr]++
			s.uploads.mu.Unlock()
			s.bg.Add(1)
			go func() {
				defer s.bg.Done()
				side, err := s.side(s.ctx, sr, sideID)
				if err != nil {
					s.uploads.done(sr)
					if s.ctx.Err() == nil {
						s.log.Warn("cannot resume a photo upload", zap.String("sr", sr), zap.String("side", sideID), zap.String("code", legitmark.ErrorCode(err)))
					}
					return
				}
				s.log.Info("resuming photo upload", zap.String("sr", sr), zap.String("side", side.Name))
				// The spool holds prepared images; Upload prepares them
				// again (cheaply: nothing left to strip) to check them.
				s.send(sr, side, legitmark.SideImage{Side: side.UUID, Data: data},
					&throttle{s: s, ev: progressEvent{UUID: sr, Side: side.UUID, SideName: side.Name}})
			}()
		}
	}
}

// digest is the hex SHA-256 of a prepared image, as the journal records it
// (legitmark.Image.Digest).
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func randomID(r io.Reader) (string, error) {
	var b [16]byte
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", errors.Join(errInternal, err)
	}
	return hex.EncodeToString(b[:]), nil
}
