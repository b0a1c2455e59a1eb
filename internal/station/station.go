package station

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/ws"
)

// Request and event types on the WebSocket API (docs/protocol.md).
const (
	TypeTaxonomy     = "legitmark.taxonomy"
	TypeCreate       = "legitmark.sr.create"
	TypeRequirements = "legitmark.sr.requirements"
	TypeUploadBegin  = "legitmark.upload.begin"
	TypeUploadChunk  = "legitmark.upload.chunk" // binary
	TypeSubmit       = "legitmark.sr.submit"
	TypeStatus       = "legitmark.sr.status" // a request, and the event of status changes
	TypeList         = "legitmark.sr.list"

	EventUploadProgress = "legitmark.upload.progress"
	EventStatus         = TypeStatus
)

// Defaults of Options.
const (
	// TapWindow is how long an authentic tap qualifies its item for a new
	// SR.
	TapWindow = 15 * time.Minute
	// RemoteTimeout bounds one request that talks to Legitmark; it runs on
	// in the background when the client goes away, so that a create or
	// submit is not cut off halfway.
	RemoteTimeout = 2 * time.Minute
	// JournalMaxAge is how long finished SRs stay in the journal.
	JournalMaxAge = 30 * 24 * time.Hour
	// taxonomyTTL is how long the taxonomy is cached.
	taxonomyTTL = 10 * time.Minute
)

// Publisher sends an event to every subscribed client (ws.Server).
type Publisher interface {
	Publish(typ string, payload any) uint64
}

// Options configure a Station. Workflow and Publisher are required.
type Options struct {
	Workflow  *legitmark.Workflow
	Publisher Publisher
	// SpoolDir keeps prepared images until submit
	// (statedir.Paths.LegitmarkSpool); empty disables the spool.
	SpoolDir   string
	SpoolBytes int64 // DefaultSpoolBytes
	// MediaClient fetches the photo guides; by default a client with
	// timeouts that sends no credentials and follows no redirects.
	MediaClient *http.Client
	Log         *zap.Logger
	Now         func() time.Time
	Rand        io.Reader
}

// Station serves the authentication station. Create it with New, register
// its requests with Register, mount MediaHandler, and run it with Run.
type Station struct {
	w       *legitmark.Workflow
	c       *legitmark.Client
	pub     Publisher
	log     *zap.Logger
	now     func() time.Time
	rand    io.Reader
	station string
	spool   spool
	media   *media
	uploads *uploads

	ctx    context.Context // background work; canceled when Run returns
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu       sync.Mutex
	lastTap  tapNote
	watching map[string]bool
	reqs     map[string][]legitmark.Side // SR → its sides, from the last requirements read
	taxonomy *Taxonomy
	taxAt    time.Time
}

type tapNote struct {
	uid string
	at  time.Time
}

// New returns a station.
func New(o Options) (*Station, error) {
	if o.Workflow == nil || o.Publisher == nil {
		return nil, errors.New("station: Workflow and Publisher are required")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.SpoolBytes <= 0 {
		o.SpoolBytes = DefaultSpoolBytes
	}
	c := o.Workflow.Client()
	s := &Station{
		w: o.Workflow, c: c, pub: o.Publisher, log: o.Log.Named("station"), now: o.Now, rand: o.Rand,
		station:  c.Config().StationID,
		spool:    spool{dir: o.SpoolDir, limit: o.SpoolBytes},
		watching: map[string]bool{},
		reqs:     map[string][]legitmark.Side{},
	}
	s.media = newMedia(c.Config(), o.MediaClient, o.Rand, s.log)
	s.uploads = newUploads(s)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Register adds the station's requests to srv. Legitmark calls may take a
// while (rate-limit waits, retries): those requests get RemoteTimeout.
func (s *Station) Register(srv *ws.Server) {
	remote := ws.HandlerOptions{Timeout: RemoteTimeout, MaxConcurrent: 2}
	srv.Handle(TypeTaxonomy, s.handleTaxonomy, remote)
	srv.Handle(TypeCreate, s.handleCreate, ws.HandlerOptions{Timeout: RemoteTimeout, MaxConcurrent: 1})
	srv.Handle(TypeRequirements, s.handleRequirements, remote)
	srv.Handle(TypeUploadBegin, s.handleUploadBegin, ws.HandlerOptions{Timeout: RemoteTimeout, MaxConcurrent: 4})
	srv.HandleBinary(TypeUploadChunk, s.handleUploadChunk, ws.HandlerOptions{
		MaxConcurrent: ChunkWindow, MaxFrameBytes: ChunkBytes + ws.MaxBinaryHeaderBytes,
	})
	srv.Handle(TypeSubmit, s.handleSubmit, ws.HandlerOptions{Timeout: RemoteTimeout, MaxConcurrent: 1})
	srv.Handle(TypeStatus, s.handleStatus, remote)
	srv.Handle(TypeList, s.handleList, ws.HandlerOptions{})
}

// NoteTap tells the station about a judged tap; an authentic one
// qualifies its tag for a new SR for TapWindow.
func (s *Station) NoteTap(uid, verdict string, at time.Time) {
	if verdict != "authentic" || uid == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastTap = tapNote{uid: uid, at: at}
}

// tapUID returns the UID of the last authentic tap within TapWindow.
func (s *Station) tapUID() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.lastTap
	if t.uid == "" || s.now().Sub(t.at) > TapWindow {
		return "", false
	}
	return t.uid, true
}

// Run resumes what a restart interrupted — settles creates and submits
// whose answers were lost, uploads spooled photos again, polls the status
// of submitted SRs — and then serves until ctx is done. It waits for its
// background work (uploads, polls) before returning.
func (s *Station) Run(ctx context.Context) error {
	defer s.bg.Wait()
	defer s.cancel()
	j := s.journal()
	if j != nil {
		if n, err := j.Compact(ctx, s.now().Add(-JournalMaxAge)); err != nil {
			s.log.Warn("journal compaction failed", zap.Error(err))
		} else if n > 0 {
			s.log.Info("journal compacted", zap.Int("entries", n))
		}
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.w.Resume(s.ctx, s.resumed); err != nil && s.ctx.Err() == nil {
			s.log.Warn("resume finished with errors", zap.String("code", legitmark.ErrorCode(err)), zap.Error(err))
		}
	}()
	s.resumeUploads()
	// The sweep runs only while uploads are held: an idle station wakes
	// nobody.
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		var tick <-chan time.Time
		switch busy := s.uploads.pending(); {
		case busy && ticker == nil:
			ticker = time.NewTicker(uploadSweep)
			tick = ticker.C
		case busy:
			tick = ticker.C
		case ticker != nil:
			ticker.Stop()
			ticker = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			s.uploads.sweep()
		case <-s.uploads.begun:
		}
	}
}

// compacter is the store's journal (store.SRJournal), which can drop
// finished SRs.
type compacter interface {
	Compact(ctx context.Context, cutoff time.Time) (int, error)
}

// journal returns the workflow's journal if it can be compacted.
func (s *Station) journal() compacter {
	if j, ok := s.w.Journal().(compacter); ok {
		return j
	}
	return nil
}

// resumed publishes a status found by Workflow.Resume and keeps the watch
// registry in step: the SR is watched until its status settles.
func (s *Station) resumed(st legitmark.Status) {
	s.mu.Lock()
	s.watching[st.SR] = !st.State.Settled()
	s.mu.Unlock()
	s.statusChanged(st)
}

// statusChanged publishes a status and drops the spool once the photos are
// no longer needed.
func (s *Station) statusChanged(st legitmark.Status) {
	s.pub.Publish(EventStatus, statusViewOf(st))
	if st.Final {
		if err := s.spool.drop(st.SR); err != nil {
			s.log.Warn("spool removal failed", zap.String("sr", st.SR), zap.Error(err))
		}
	}
}

// watch polls an SR's status in the background until it settles, unless
// it is watched already.
func (s *Station) watch(uuid string) {
	s.mu.Lock()
	if s.watching[uuid] || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.watching[uuid] = true
	s.bg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.bg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.watching, uuid)
			s.mu.Unlock()
		}()
		if _, err := s.w.Watch(s.ctx, uuid, s.statusChanged); err != nil && s.ctx.Err() == nil {
			s.log.Warn("status watch ended", zap.String("sr", uuid), zap.String("code", legitmark.ErrorCode(err)))
		}
	}()
}

// remote runs fn on the station's context, detached from the request's:
// a create or submit must not be cut off because the page went away. The
// handler still returns when ctx is done.
func (s *Station) remote(ctx context.Context, fn func(ctx context.Context) (any, error)) (any, error) {
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		rctx, cancel := context.WithTimeout(s.ctx, RemoteTimeout)
		defer cancel()
		v, err := fn(rctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
