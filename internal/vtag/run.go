package vtag

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/vpcd"
)

// A Card is what vpcd inserts.
var _ vpcd.Card = (*Card)(nil)

// Tap timing defaults. pcscd polls vpcd for presence every 400 ms
// (PCSCLITE_STATUS_POLL_RATE): an inserted card is noticed 0-400 ms after
// the connect, and a removal just as late. A card that stays in for less
// than ~300 ms may never be seen at all, so Dwell should be at least
// 300 ms; 500 ms or more was needed for no tap to be lost on the measuring
// rig (ifd-vpcd polls the slot every 400 ms: vsmartcard src/ifd-vpcd/
// ifd-vpcd.c). Removal needs no extra gap:
// vpcd.Conn.Serve only returns once vpcd has seen the slot empty.
const (
	DefaultDwell = 600 * time.Millisecond
	MinDwell     = 300 * time.Millisecond
)

// TapOptions says how Run presents the card.
type TapOptions struct {
	// Taps is the number of presentations; 0 or less means until ctx is
	// cancelled.
	Taps int
	// Dwell is how long the card stays in the field per tap; 0 means
	// DefaultDwell. Keep it at MinDwell or more (see DefaultDwell).
	Dwell time.Duration
	// Gap is the time between a removal and the next insertion.
	Gap time.Duration
	// Hold keeps the card in the field, as one presentation, until ctx is
	// cancelled; Taps, Dwell and Gap are ignored.
	Hold bool
	// Record, if set, is a directory to write one APDU transcript per tap
	// into (tap-0001.txt, ...): "> HEX" command and "< HEX" response lines,
	// "# " notes, and before each command an "@ <duration>" line giving the
	// time since the card was inserted.
	Record string
}

// Run presents card to the vpcd slot at addr (vpcd.DefaultAddr if empty),
// once per tap: each tap calls card.Presentation, inserts the card
// (vpcd.Dial), serves APDUs for Dwell, removes it cleanly (vpcd's
// half-close) and waits Gap. It returns nil when the taps are done or ctx
// is cancelled, and an error if the card cannot be inserted (pcscd or vpcd
// not running) or a transcript cannot be written. A tap that vpcd ends
// early (FaultRemoved makes the card vanish) is logged and counted.
func Run(ctx context.Context, addr string, card *Card, opts TapOptions, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("vtag")
	if addr == "" {
		addr = vpcd.DefaultAddr
	}
	if opts.Dwell <= 0 {
		opts.Dwell = DefaultDwell
	}
	if opts.Dwell < MinDwell && !opts.Hold {
		log.Warn("dwell shorter than pcscd's presence poll; taps may go unseen",
			zap.Duration("dwell", opts.Dwell), zap.Duration("min", MinDwell))
	}
	if opts.Gap < 0 {
		opts.Gap = 0
	}
	if opts.Record != "" {
		if err := os.MkdirAll(opts.Record, 0o755); err != nil {
			return fmt.Errorf("vtag: transcript directory: %w", err)
		}
	}
	uid := card.UID()
	log = log.With(zap.String("addr", addr), zap.String("uid", ntag424.Hex(uid[:])))
	for n := 1; opts.Hold || opts.Taps <= 0 || n <= opts.Taps; n++ {
		if ctx.Err() != nil {
			return nil
		}
		if err := tap(ctx, addr, card, n, opts, log); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if opts.Hold {
			return nil
		}
		if opts.Gap > 0 {
			t := time.NewTimer(opts.Gap)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
	return nil
}

// tap performs presentation n.
func tap(ctx context.Context, addr string, card *Card, n int, opts TapOptions, log *zap.Logger) error {
	log = log.With(zap.Int("tap", n))
	var dev vpcd.Card = card
	var rec *recorder
	if opts.Record != "" {
		f, err := os.Create(filepath.Join(opts.Record, fmt.Sprintf("tap-%04d.txt", n)))
		if err != nil {
			return fmt.Errorf("vtag: transcript: %w", err)
		}
		defer f.Close()
		rec = newRecorder(card, f, time.Now)
		rec.note("nfcd vtag tap %d uid %X counter %d", n, card.uid, card.Counter())
		dev = rec
	}
	before := card.Taps()
	card.Presentation()
	conn, err := vpcd.Dial(ctx, addr)
	if err != nil {
		return fmt.Errorf("vtag: insert card: %w", err)
	}
	if rec != nil {
		rec.start = time.Now()
	}
	log.Debug("card inserted")
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if !opts.Hold {
		sctx, cancel = context.WithTimeout(ctx, opts.Dwell)
	}
	err = conn.Serve(sctx, dev)
	cancel()
	read := card.Taps() > before
	url := ""
	if read {
		url = card.LastURL()
	}
	switch {
	case errors.Is(err, vpcd.ErrClosedByReader):
		log.Info("card dropped by reader", zap.Bool("read", read), zap.Error(err))
	case err != nil:
		return fmt.Errorf("vtag: serve: %w", err)
	default:
		log.Info("card removed", zap.Bool("read", read), zap.Uint32("counter", card.Counter()), zap.String("url", url))
	}
	if rec != nil {
		if read {
			rec.note("served %s", url)
		}
		rec.note("removed")
		if err := rec.flush(); err != nil {
			return fmt.Errorf("vtag: transcript: %w", err)
		}
	}
	return nil
}

// recorder is a vpcd.Card that writes every exchange with the card it wraps
// to a transcript. ATR polls are not recorded: vpcd sends one every 400 ms.
type recorder struct {
	card  *Card
	w     *bufio.Writer
	now   func() time.Time
	start time.Time
}

func newRecorder(card *Card, w io.Writer, now func() time.Time) *recorder {
	return &recorder{card: card, w: bufio.NewWriter(w), now: now, start: now()}
}

func (r *recorder) note(format string, args ...any) {
	fmt.Fprintf(r.w, "# "+format+"\n", args...)
}

func (r *recorder) flush() error { return r.w.Flush() }

func (r *recorder) ATR() []byte { return r.card.ATR() }

func (r *recorder) PowerOn() {
	r.note("power on")
	r.card.PowerOn()
}

func (r *recorder) PowerOff() {
	r.note("power off")
	r.card.PowerOff()
}

func (r *recorder) Reset() {
	r.note("reset")
	r.card.Reset()
}

func (r *recorder) Transmit(apdu []byte) []byte {
	fmt.Fprintf(r.w, "@ %v\n> %X\n", r.now().Sub(r.start), apdu)
	rsp := r.card.Transmit(apdu)
	fmt.Fprintf(r.w, "< %X\n", rsp)
	if len(rsp) == 0 {
		r.note("empty response: the tag left the field")
	}
	return rsp
}
