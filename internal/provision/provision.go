package provision

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// Card is the tag in the field: the one method this package needs from the
// PC/SC layer. *pcsc.Card satisfies it, so do the virtual tag and the
// transcript fakes of pcsctest. A card that left the field answers with an
// error matching ntag424.ErrCardRemoved (the pcsc adapter, Reader, wraps
// pcsc's removal errors so).
type Card interface {
	Transmit(ctx context.Context, apdu []byte) ([]byte, error)
}

// Reconnector is a Card that can wait for a tag to come back into its
// reader after one left, and connect to it. With one, a sequence goes on
// when the tag is put back (after checking it is the same tag); without,
// it stops and the command says to run it again.
type Reconnector interface {
	Reconnect(ctx context.Context) error
}

// Steps, as the journal and the progress events name them.
const (
	stepSelect   = "select"
	stepAuth     = "authenticate"
	stepLRP      = "enable_lrp"
	stepNDEF     = "write_ndef"
	stepSettings = "file_settings"
	stepVerify   = "verify"
)

func keyStep(n byte) string { return fmt.Sprintf("key_%d", n) }

// Errors a personalisation stops with. The messages say what to do; none
// carries key material.
var (
	// ErrWrongKey0: the tag refused the current key 0 (91AE) before
	// anything changed.
	ErrWrongKey0 = errors.New("provision: the tag refused key 0: wrong --key0, or the tag is personalised for another profile; nothing was changed")
	// ErrUIDChanged: a different tag answered mid-sequence (another tag
	// was put down); nothing was written to it.
	ErrUIDChanged = errors.New("provision: another tag was put on the reader mid-sequence; nothing was written to it")
	// ErrRemoved: the tag left the field; the journal says where it
	// stopped and the same command finishes the job.
	ErrRemoved = errors.New("provision: the tag was removed")
	// ErrLRPRefused: the profile needs LRP, which is a one-way switch on
	// the tag, and the caller did not allow it.
	ErrLRPRefused = errors.New("provision: the profile needs LRP secure messaging, a switch the tag cannot undo: allow it with --enable-lrp-irreversibly")
	// ErrTagLRP: the tag runs LRP and the profile is AES; no command
	// brings a tag back from LRP.
	ErrTagLRP = errors.New("provision: the tag runs LRP secure messaging (irreversibly); the profile needs AES")
	// ErrUnknownKey: a key is neither its old value nor the profile's, so
	// it cannot be changed (ChangeKey needs the old key).
	ErrUnknownKey = errors.New("provision: a key on the tag is neither the expected old key nor the profile's")
	// ErrNotVerified: every step is done but the tag's read does not
	// verify under the profile.
	ErrNotVerified = errors.New("provision: the tag's SUN does not verify under the profile")
	// ErrOtherProfile: the journal has the tag mid-way through another
	// profile or operation.
	ErrOtherProfile = errors.New("provision: the journal has this tag mid-way through another profile or operation")
	// ErrNotNTAG424: GetVersion says the tag is not an NTAG 424 DNA.
	ErrNotNTAG424 = errors.New("provision: not an NTAG 424 DNA")
	// ErrAccess: a file's access rights need a key other than key 0.
	ErrAccess = errors.New("provision: the NDEF file's access rights need a key other than key 0")
)

// maxReconnects bounds how often one run waits for the tag to come back.
const maxReconnects = 5

// Options tune a run.
type Options struct {
	// Key0 is the tag's current key 0; nil means the factory all-zero key
	// (provision). Reset uses the profile's.
	Key0 *ntag424.Key
	// EnableLRP allows SetConfiguration to switch an AES tag to LRP for
	// good, when the profile needs LRP (--enable-lrp-irreversibly).
	EnableLRP bool
	// Journal records progress; nil means an in-memory journal (nothing
	// survives the run).
	Journal Journal
	// Rand supplies RndA; nil means crypto/rand.
	Rand io.Reader
	// Progress, if set, is called with every step event, in order.
	Progress func(StepEvent)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives debug events (never keys).
	Log *zap.Logger
}

// StepEvent reports a step of a run.
type StepEvent struct {
	Step string `json:"step"`
	// Status is "start", "done", "skipped" (already done, or nothing to
	// change), "resumed" (found done on the tag) or "failed".
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	// APDUs and ElapsedMS cover the step, for done and failed events.
	APDUs     int     `json:"apdus,omitempty"`
	ElapsedMS float64 `json:"elapsed_ms,omitempty"`
}

// Result is the outcome of a run.
type Result struct {
	UID     string `json:"uid"`
	Profile string `json:"profile"`
	Op      string `json:"op"`
	// OK is true only after a read of the tag verified under the profile
	// (provision) or showed the factory state (reset).
	OK bool `json:"ok"`
	// URL is the URL the verifying read got, and Ctr its counter.
	URL string `json:"url,omitempty"`
	Ctr uint32 `json:"ctr,omitempty"`
	// Resumed says the journal had this tag mid-way.
	Resumed bool `json:"resumed,omitempty"`
	// Stopped is the step the run stopped at, when not OK.
	Stopped string `json:"stopped,omitempty"`
	// APDUs and ElapsedMS cover the whole run.
	APDUs     int     `json:"apdus"`
	ElapsedMS float64 `json:"elapsed_ms"`
	// Note says what is left to do, in words.
	Note string `json:"note,omitempty"`
}

// runner holds the state of one run.
type runner struct {
	card  *countingCard
	t     *Target
	opts  Options
	op    string
	now   func() time.Time
	log   *zap.Logger
	uid   []byte // the tag's UID, once known
	keys  tagKeys
	key0  ntag424.Key // the key 0 the tag holds, as far as the run knows
	ch    *ntag424.Channel
	rec   *Record
	res   *Result
	step  string // the step in progress
	crypt ntag424.Crypto
}

// countingCard counts APDUs and maps an empty response to ErrCardRemoved.
type countingCard struct {
	c Card
	n int
}

func (c *countingCard) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	c.n++
	rsp, err := c.c.Transmit(ctx, apdu)
	if err == nil && len(rsp) == 0 {
		err = ntag424.ErrCardRemoved
	}
	return rsp, err
}

func newRunner(card Card, t *Target, op string, opts Options) *runner {
	if opts.Journal == nil {
		opts.Journal = MemJournal{}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &runner{
		card: &countingCard{c: card}, t: t, opts: opts, op: op, now: now, log: log,
		res: &Result{Profile: t.Name, Op: op},
	}
}

// Provision personalises the tag on card for target t: it writes the NDEF
// message, sets the NDEF file's SDM settings and access rights, changes
// the keys (key 0 last), and reads the tag as a tap does to verify the
// SUN; only then is Result.OK true. A run that stops part-way leaves the
// journal saying where, and the same call finishes the job.
//
// Safety (issue 18 §2): the first change happens only after key 0
// authenticated (91AE stops with ErrWrongKey0); every key but 0 is proven
// by authenticating with its old value before it changes, and the new value
// is proven after; key 0 changes last; the UID is checked after every
// first authentication (ErrUIDChanged); LRP needs Options.EnableLRP.
func Provision(ctx context.Context, card Card, t *Target, opts Options) (*Result, error) {
	r := newRunner(card, t, OpProvision, opts)
	return r.run(ctx, r.provision)
}

// Reset puts the tag on card back to its factory state for the profile
// that personalised it: factory NDEF file settings, an empty NDEF file,
// every key the profile set back to the zero key at version 00, key 0
// last. LRP, once on, stays on. The tag is checked before the first change:
// key 0 must be the profile's (or already the factory key).
func Reset(ctx context.Context, card Card, t *Target, opts Options) (*Result, error) {
	r := newRunner(card, t, OpReset, opts)
	return r.run(ctx, r.reset)
}

// run drives seq, going on after the tag comes back when the card can
// reconnect.
func (r *runner) run(ctx context.Context, seq func(context.Context) error) (*Result, error) {
	start := r.now()
	defer func() {
		r.res.APDUs = r.card.n
		r.res.ElapsedMS = ms(r.now().Sub(start))
	}()
	for attempt := 0; ; attempt++ {
		err := seq(ctx)
		if err == nil {
			return r.res, nil
		}
		r.res.Stopped = r.step
		rc, ok := r.card.c.(Reconnector)
		if !errors.Is(err, ntag424.ErrCardRemoved) || !ok || attempt >= maxReconnects || ctx.Err() != nil {
			if errors.Is(err, ntag424.ErrCardRemoved) {
				r.res.Note = fmt.Sprintf("the tag left the reader during %s; put it back and run the same command again to finish", r.step)
				return r.res, fmt.Errorf("%w during %s: %w", ErrRemoved, r.step, err)
			}
			return r.res, err
		}
		r.emit(StepEvent{Step: r.step, Status: "failed", Detail: "the tag left the reader; put the same tag back to go on"})
		if err := rc.Reconnect(ctx); err != nil {
			r.res.Note = "put the tag back and run the same command again to finish"
			return r.res, fmt.Errorf("%w during %s; waiting for it: %w", ErrRemoved, r.res.Stopped, err)
		}
		r.ch = nil
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *runner) emit(ev StepEvent) {
	if r.opts.Progress != nil {
		r.opts.Progress(ev)
	}
}

// do runs one step: start event, fn, done or failed event. fn returns the
// final status ("done", "skipped", "resumed") and a detail.
func (r *runner) do(ctx context.Context, step string, fn func() (string, string, error)) error {
	r.step = step
	n0, t0 := r.card.n, r.now()
	r.emit(StepEvent{Step: step, Status: "start"})
	status, detail, err := fn()
	ev := StepEvent{Step: step, Status: status, Detail: detail, APDUs: r.card.n - n0, ElapsedMS: ms(r.now().Sub(t0))}
	if err != nil {
		ev.Status, ev.Detail = "failed", errDetail(err)
	}
	r.emit(ev)
	r.log.Debug("step", zap.String("step", step), zap.String("status", ev.Status), zap.Int("apdus", ev.APDUs))
	return err
}

// errDetail is the error text for a progress event: the wrapped chain,
// which never holds key material.
func errDetail(err error) string { return strings.TrimPrefix(err.Error(), "provision: ") }

// mark records step as pending or done, durably, before the run goes on.
func (r *runner) mark(ctx context.Context, step, status string) error {
	if r.rec == nil {
		return nil
	}
	now := r.now().UTC()
	r.rec.Steps[step] = StepState{Status: status, At: now}
	r.rec.Updated = now
	return r.opts.Journal.Save(ctx, r.rec)
}

// identify selects the application, reads the UID with GetVersion and
// checks it is the tag the run started with.
func (r *runner) identify(ctx context.Context) error {
	return r.do(ctx, stepSelect, func() (string, string, error) {
		if err := ntag424.SelectApplication(ctx, r.card); err != nil {
			return "", "", err
		}
		v, err := ntag424.GetVersion(ctx, r.card)
		if err != nil {
			return "", "", err
		}
		if !v.IsNTAG424DNA() {
			return "", "", ErrNotNTAG424
		}
		if v.RandomID() {
			return "done", "Random ID: the UID is read after authentication", nil
		}
		if err := r.setUID(v.UID); err != nil {
			return "", "", err
		}
		return "done", "UID " + r.res.UID, nil
	})
}

// setUID takes the UID the tag showed, or checks it against the one the
// run started with.
func (r *runner) setUID(uid []byte) error {
	if r.uid == nil {
		r.uid = bytes.Clone(uid)
		r.res.UID = strings.ToUpper(hex.EncodeToString(uid))
		keys, err := r.t.keysFor(uid)
		if err != nil {
			return err
		}
		r.keys = keys
		return nil
	}
	if !bytes.Equal(uid, r.uid) {
		return fmt.Errorf("%w: the run started on %s and now %X answers; put %s back and run the same command again", ErrUIDChanged, r.res.UID, uid, r.res.UID)
	}
	return nil
}

// authenticate establishes a first authentication with key 0 holding key,
// in the secure messaging the tag runs, and proves the UID through the
// session (GetCardUID): a first authentication is where another tag could
// have taken the first one's place.
func (r *runner) authenticate(ctx context.Context, key *ntag424.Key) error {
	want := r.t.Crypto()
	if r.rec != nil && r.rec.LRP {
		want = ntag424.CryptoLRP
	}
	ch, err := ntag424.Authenticate(ctx, r.card, 0, key, want, r.opts.Rand)
	if errors.Is(err, ntag424.ErrPermission) && want == ntag424.CryptoAES {
		// 919D to an AES request: the tag runs LRP.
		ch, err = ntag424.Authenticate(ctx, r.card, 0, key, ntag424.CryptoLRP, r.opts.Rand)
	}
	if err != nil {
		return err
	}
	r.ch, r.crypt = ch, ch.Crypto()
	uid, err := ch.GetCardUID(ctx)
	if err != nil {
		return err
	}
	return r.setUID(uid)
}

// master makes sure the session is authenticated with key 0: a NonFirst
// inside a live session, else a first authentication.
func (r *runner) master(ctx context.Context) error {
	if r.ch != nil && r.ch.Authenticated() {
		if r.ch.KeyNo() == 0 {
			return nil
		}
		if err := r.ch.Reauthenticate(ctx, 0, &r.key0); err == nil {
			return nil
		} else if !errors.Is(err, ntag424.ErrAuth) {
			return err
		}
	}
	return r.authenticate(ctx, &r.key0)
}

// login authenticates with key 0 at the start of a sequence, trying the
// candidates in order; a refusal of the last is ErrWrongKey0.
func (r *runner) login(ctx context.Context, candidates []ntag424.Key) error {
	return r.do(ctx, stepAuth, func() (string, string, error) {
		var err error
		for i := range candidates {
			err = r.authenticate(ctx, &candidates[i])
			if err == nil {
				r.key0 = candidates[i]
				detail := fmt.Sprintf("%s session, UID %s", r.crypt, r.res.UID)
				if r.op == OpProvision && r.key0 == r.keys.key[0] {
					detail += "; key 0 is already the profile's"
				}
				return "done", detail, nil
			}
			if !errors.Is(err, ntag424.ErrAuth) || errors.Is(err, ntag424.ErrCardRemoved) {
				return "", "", err
			}
		}
		return "", "", fmt.Errorf("%w (%v)", ErrWrongKey0, err)
	})
}

// sunVerifies reports whether the tag's current URL verifies under the
// profile with the run's UID. The read is unauthenticated (it selects the
// application first), so it counts as a tap.
func (r *runner) sunVerifies(ctx context.Context) (ntag424.TagRead, ntag424.Result, bool, error) {
	r.ch = nil // the select ends any session
	tr, err := ntag424.ReadTag(ctx, r.card, ntag424.ReadOptions{})
	if err != nil {
		return tr, ntag424.Result{}, false, err
	}
	res, err := r.t.verifier.Verify(tr.URL)
	ok := err == nil && (r.uid == nil || bytes.Equal(res.UID[:], r.uid))
	return tr, res, ok, nil
}

// beginRecord loads the journal record and checks it does not belong to
// another operation in progress.
func (r *runner) loadRecord(ctx context.Context) error {
	if r.uid == nil {
		return nil
	}
	rec, err := r.opts.Journal.Load(ctx, r.uid)
	if err != nil {
		return err
	}
	if rec != nil && rec.State == StateInProgress && (rec.Profile != r.t.Name || rec.Op != r.op) {
		return fmt.Errorf("%w: %s of profile %q started %s; finish that first", ErrOtherProfile, rec.Op, rec.Profile, rec.Started.Format(time.RFC3339))
	}
	if rec != nil && (rec.Profile != r.t.Name || rec.Op != r.op) {
		rec = nil // a finished record of something else: start afresh
	}
	if rec != nil && rec.State == StateInProgress {
		r.res.Resumed = true
	}
	r.rec = rec
	return nil
}

// openRecord creates the journal record, durably, before the first change.
func (r *runner) openRecord(ctx context.Context) error {
	if r.rec != nil {
		if r.rec.State == StateDone {
			r.rec.State = StateInProgress
			r.rec.Steps = map[string]StepState{}
		}
		return r.opts.Journal.Save(ctx, r.rec)
	}
	now := r.now().UTC()
	r.rec = &Record{
		UID: r.res.UID, Profile: r.t.Name, Op: r.op, State: StateInProgress,
		LRP: r.crypt == ntag424.CryptoLRP, Steps: map[string]StepState{},
		KeyVersions: [5]int{-1, -1, -1, -1, -1}, Started: now, Updated: now,
	}
	return r.opts.Journal.Save(ctx, r.rec)
}

// provision is one pass of the personalisation sequence.
func (r *runner) provision(ctx context.Context) error {
	if err := r.identify(ctx); err != nil {
		return err
	}
	if err := r.loadRecord(ctx); err != nil {
		return err
	}
	// Candidates for key 0: the profile's first when the journal says key
	// 0 may have changed (a ChangeKey whose answer was lost) or when the
	// tag already shows this profile's SUN; otherwise only the current one.
	cur := ntag424.Key{}
	if r.opts.Key0 != nil {
		cur = *r.opts.Key0
	}
	candidates := []ntag424.Key{cur}
	mine := r.rec.touched(keyStep(0))
	if !mine && r.uid != nil && r.rec == nil {
		// The read leaves the application selected.
		if _, _, ok, err := r.sunVerifies(ctx); err != nil {
			return err
		} else if ok {
			mine = true
		}
	}
	if mine && r.keys.key[0] != cur {
		candidates = []ntag424.Key{r.keys.key[0], cur}
	}
	if err := r.login(ctx, candidates); err != nil {
		return err
	}
	if r.rec == nil {
		if err := r.loadRecord(ctx); err != nil { // Random ID: the UID is known now
			return err
		}
	}

	// LRP first: it is one-way, and it turns SDM off.
	if r.t.Crypto() == ntag424.CryptoLRP && r.crypt == ntag424.CryptoAES && !r.opts.EnableLRP {
		return ErrLRPRefused
	}
	if r.t.Crypto() == ntag424.CryptoAES && r.crypt == ntag424.CryptoLRP {
		return ErrTagLRP
	}
	if err := r.openRecord(ctx); err != nil {
		return err
	}
	if r.t.Crypto() == ntag424.CryptoLRP {
		err := r.do(ctx, stepLRP, func() (string, string, error) {
			if r.crypt == ntag424.CryptoLRP {
				r.rec.LRP = true
				return "skipped", "the tag runs LRP", r.mark(ctx, stepLRP, StepDone)
			}
			if err := r.mark(ctx, stepLRP, StepPending); err != nil {
				return "", "", err
			}
			if err := r.ch.SetConfiguration(ctx, ntag424.ConfigCapability, ntag424.LRPCapabilityData[:]); err != nil {
				return "", "", err
			}
			r.rec.LRP = true
			if err := r.mark(ctx, stepLRP, StepDone); err != nil {
				return "", "", err
			}
			r.ch = nil
			if err := r.authenticate(ctx, &r.key0); err != nil {
				return "", "", err
			}
			return "done", "the tag runs LRP secure messaging from now on", nil
		})
		if err != nil {
			return err
		}
	}

	// The NDEF file: its message, then its settings.
	if err := r.master(ctx); err != nil {
		return err
	}
	var cur2 *ntag424.FileSettings
	if err := r.do(ctx, stepNDEF, func() (string, string, error) {
		fs, err := r.ch.GetFileSettings(ctx, ntag424.FileNDEF)
		if err != nil {
			return "", "", err
		}
		cur2 = fs
		if !writable(fs.Access) {
			return "", "", fmt.Errorf("%w: %s", ErrAccess, describeSettings(fs))
		}
		if err := r.mark(ctx, stepNDEF, StepPending); err != nil {
			return "", "", err
		}
		if err := r.ch.WriteData(ctx, ntag424.FileNDEF, 0, r.t.SDM.File, fs.CommMode); err != nil {
			return "", "", err
		}
		return "done", fmt.Sprintf("%d bytes", len(r.t.SDM.File)), r.mark(ctx, stepNDEF, StepDone)
	}); err != nil {
		return err
	}
	if err := r.do(ctx, stepSettings, func() (string, string, error) {
		want := r.t.Settings
		want.Size = cur2.Size
		if reflect.DeepEqual(*cur2, want) {
			return "skipped", "already " + describeSettings(&want), r.mark(ctx, stepSettings, StepDone)
		}
		if cur2.Access.Change != 0 && cur2.Access.Change != ntag424.AccessFree {
			return "", "", fmt.Errorf("%w: %s", ErrAccess, describeSettings(cur2))
		}
		if err := r.mark(ctx, stepSettings, StepPending); err != nil {
			return "", "", err
		}
		if err := r.ch.ChangeFileSettings(ctx, ntag424.FileNDEF, &r.t.Settings); err != nil {
			return "", "", err
		}
		return "done", describeSettings(&r.t.Settings), r.mark(ctx, stepSettings, StepDone)
	}); err != nil {
		return err
	}

	// The keys: each proven before and after, key 0 last.
	for _, n := range r.t.keyOrder() {
		if !r.keys.set[n] {
			continue
		}
		if err := r.changeKey(ctx, n, ntag424.Key{}, r.keys.key[n], r.t.KeyVersion); err != nil {
			return err
		}
	}
	if err := r.changeKey0(ctx, r.keys.key[0], r.t.KeyVersion); err != nil {
		return err
	}

	// Success means a real read.
	return r.do(ctx, stepVerify, func() (string, string, error) {
		tr, res, ok, err := r.sunVerifies(ctx)
		if err != nil {
			return "", "", err
		}
		if !ok {
			r.res.Note = "every step is done but the read does not verify: take the tag off the reader, tap it again and check with nfcd tag inspect"
			return "", "", fmt.Errorf("%w (read %q)", ErrNotVerified, tr.URL)
		}
		r.res.OK, r.res.URL, r.res.Ctr = true, tr.URL, res.Ctr.Value
		r.rec.State = StateDone
		return "done", fmt.Sprintf("counter %v: %s", res.Ctr, tr.URL), r.mark(ctx, stepVerify, StepDone)
	})
}

// writable reports whether key 0 (or anyone) may write the file.
func writable(a ntag424.AccessRights) bool {
	ok := func(x ntag424.Access) bool { return x == 0 || x == ntag424.AccessFree }
	return ok(a.Write) || ok(a.ReadWrite)
}

// changeKey changes key n (not 0) from oldKey to newKey at version: it
// proves the key on the tag first (AuthenticateEV2NonFirst with oldKey; a
// key already at newKey means an earlier run changed it), returns to key
// 0, changes the key, and proves the new key.
func (r *runner) changeKey(ctx context.Context, n byte, oldKey, newKey ntag424.Key, version byte) error {
	step := keyStep(n)
	return r.do(ctx, step, func() (string, string, error) {
		if err := r.master(ctx); err != nil {
			return "", "", err
		}
		// Which value does the key hold? The version is a hint (ChangeKey
		// writes key and version together); authentication is the proof.
		// The likelier value is tried first, so that a re-run costs no
		// failed authentication.
		v, err := r.ch.GetKeyVersion(ctx, n)
		if err != nil {
			return "", "", err
		}
		try := []ntag424.Key{oldKey, newKey}
		if v == version && oldKey != newKey {
			try = []ntag424.Key{newKey, oldKey}
		}
		held := -1
		for i := range try {
			if i > 0 {
				// The refused authentication ended the session.
				r.ch = nil
				if err := r.master(ctx); err != nil {
					return "", "", err
				}
			}
			err := r.ch.Reauthenticate(ctx, n, &try[i])
			if err == nil {
				held = i
				break
			}
			if !errors.Is(err, ntag424.ErrAuth) {
				return "", "", err
			}
		}
		if held < 0 {
			r.ch = nil
			return "", "", fmt.Errorf("%w: key %d (nothing more was changed)", ErrUnknownKey, n)
		}
		if try[held] == newKey {
			r.rec.KeyVersions[n] = int(version)
			status, detail := "resumed", fmt.Sprintf("key %d is already the new key", n)
			if oldKey == newKey {
				status, detail = "skipped", fmt.Sprintf("key %d already holds the value", n)
			}
			return status, detail, r.mark(ctx, step, StepDone)
		}
		if err := r.master(ctx); err != nil {
			return "", "", err
		}
		if err := r.mark(ctx, step, StepPending); err != nil {
			return "", "", err
		}
		if err := r.ch.ChangeKey(ctx, n, &newKey, &oldKey, version); err != nil {
			return "", "", err
		}
		r.rec.KeyVersions[n] = int(version)
		if err := r.mark(ctx, step, StepDone); err != nil {
			return "", "", err
		}
		// Prove the new key, then back to key 0 for what follows.
		if err := r.ch.Reauthenticate(ctx, n, &newKey); err != nil {
			return "", "", fmt.Errorf("prove the new key %d: %w", n, err)
		}
		return "done", fmt.Sprintf("key %d changed to version %02X and proven", n, version), nil
	})
}

// changeKey0 changes key 0 to newKey at version, last: the session ends,
// and a first authentication with the new key proves it (and the UID).
func (r *runner) changeKey0(ctx context.Context, newKey ntag424.Key, version byte) error {
	step := keyStep(0)
	return r.do(ctx, step, func() (string, string, error) {
		if r.key0 == newKey {
			r.rec.KeyVersions[0] = int(version)
			return "skipped", "key 0 already holds the value", r.mark(ctx, step, StepDone)
		}
		if err := r.master(ctx); err != nil {
			return "", "", err
		}
		if err := r.mark(ctx, step, StepPending); err != nil {
			return "", "", err
		}
		if err := r.ch.ChangeKey(ctx, 0, &newKey, nil, version); err != nil {
			return "", "", err
		}
		r.key0 = newKey
		r.rec.KeyVersions[0] = int(version)
		if err := r.mark(ctx, step, StepDone); err != nil {
			return "", "", err
		}
		r.ch = nil
		if err := r.authenticate(ctx, &r.key0); err != nil {
			return "", "", fmt.Errorf("prove the new key 0: %w", err)
		}
		return "done", fmt.Sprintf("key 0 changed to version %02X and proven", version), nil
	})
}

// reset is one pass of the reset sequence.
func (r *runner) reset(ctx context.Context) error {
	if err := r.identify(ctx); err != nil {
		return err
	}
	if err := r.loadRecord(ctx); err != nil {
		return err
	}
	// The profile's key 0 first, then the factory key (an earlier reset
	// got that far, or the tag was never personalised).
	var zero ntag424.Key
	candidates := []ntag424.Key{zero}
	if r.uid != nil && r.keys.key[0] != zero {
		candidates = []ntag424.Key{r.keys.key[0], zero}
	}
	if r.opts.Key0 != nil {
		candidates = []ntag424.Key{*r.opts.Key0}
	}
	if err := r.login(ctx, candidates); err != nil {
		return err
	}
	if r.rec == nil {
		if err := r.loadRecord(ctx); err != nil {
			return err
		}
	}
	if err := r.openRecord(ctx); err != nil {
		return err
	}
	factory := *ntag424.FactoryFileSettings(ntag424.FileNDEF)
	if err := r.do(ctx, stepSettings, func() (string, string, error) {
		fs, err := r.ch.GetFileSettings(ctx, ntag424.FileNDEF)
		if err != nil {
			return "", "", err
		}
		if reflect.DeepEqual(*fs, factory) {
			return "skipped", "already " + describeSettings(fs), r.mark(ctx, stepSettings, StepDone)
		}
		if fs.Access.Change != 0 && fs.Access.Change != ntag424.AccessFree {
			return "", "", fmt.Errorf("%w: %s", ErrAccess, describeSettings(fs))
		}
		if err := r.mark(ctx, stepSettings, StepPending); err != nil {
			return "", "", err
		}
		if err := r.ch.ChangeFileSettings(ctx, ntag424.FileNDEF, &factory); err != nil {
			return "", "", err
		}
		return "done", describeSettings(&factory), r.mark(ctx, stepSettings, StepDone)
	}); err != nil {
		return err
	}
	if err := r.do(ctx, stepNDEF, func() (string, string, error) {
		if err := r.mark(ctx, stepNDEF, StepPending); err != nil {
			return "", "", err
		}
		// The factory NDEF file is all zeros: NLEN 0, no message.
		if err := r.ch.WriteData(ctx, ntag424.FileNDEF, 0, make([]byte, ntag424.NDEFFileSize), factory.CommMode); err != nil {
			return "", "", err
		}
		return "done", "emptied", r.mark(ctx, stepNDEF, StepDone)
	}); err != nil {
		return err
	}
	var zeroKey ntag424.Key
	for _, n := range r.t.keyOrder() {
		if !r.keys.set[n] {
			continue
		}
		if err := r.changeKey(ctx, n, r.keys.key[n], zeroKey, 0x00); err != nil {
			return err
		}
	}
	if err := r.changeKey0(ctx, zeroKey, 0x00); err != nil {
		return err
	}
	return r.do(ctx, stepVerify, func() (string, string, error) {
		fs, err := r.ch.GetFileSettings(ctx, ntag424.FileNDEF)
		if err != nil {
			return "", "", err
		}
		if !reflect.DeepEqual(*fs, factory) {
			return "", "", fmt.Errorf("provision: reset: the NDEF file settings read back as %s", describeSettings(fs))
		}
		r.ch = nil
		tr, err := ntag424.ReadTag(ctx, r.card, ntag424.ReadOptions{})
		if err != nil {
			return "", "", err
		}
		if tr.URL != "" {
			return "", "", fmt.Errorf("provision: reset: the tag still shows %q", tr.URL)
		}
		r.res.OK = true
		r.rec.State = StateDone
		detail := "factory keys and settings"
		if r.crypt == ntag424.CryptoLRP {
			detail += "; the tag stays in LRP mode (SetConfiguration cannot undo it)"
			r.res.Note = "the tag stays in LRP mode: SetConfiguration cannot undo it"
		}
		return "done", detail, r.mark(ctx, stepVerify, StepDone)
	})
}
