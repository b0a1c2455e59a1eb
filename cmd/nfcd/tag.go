package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/provision"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
)

var tagCmd = &command{
	name:     "tag",
	summary:  "show, personalise or reset an NTAG 424 DNA tag",
	synopsis: "nfcd tag inspect|provision|reset [flags]",
	about: `Personalises tags for a profile: the NDEF message and every SDM offset from a
URL template, file settings, keys (each proven before and after it changes, key 0
last), and success only when a read of the tag verifies under the profile. A tag
pulled mid-way is finished by running the same command again: a journal
(provision.db in the state directory, no key material) remembers each step.`,
	example: "nfcd tag provision --profile tags.toml --name store-tags --url 'https://brand.example/t?picc_data={picc_data}&cmac={cmac}'",
	subs:    []*command{tagInspectCmd, tagProvisionCmd, tagResetCmd},
}

var tagInspectCmd = &command{
	name:     "tag inspect",
	summary:  "show a tag: versions, UID, originality, file settings, keys, SUN",
	synopsis: "nfcd tag inspect [--reader GLOB] [--key0 HEX | --profile FILE] [--json]",
	about: `Reads what can be read of the tag on the reader without changing it (a read
advances its SUN counter): GetVersion, UID, originality signature, the settings of
its three files with SDM offsets, key versions, its URL and which profile of
--profile verifies its SUN. Key 0 is tried only with --key0, or the key of the
profile the SUN verified under (a wrong key counts as a failed authentication).`,
	example: "nfcd tag inspect --profile tags.toml",
	maxArgs: 0,
}

var tagProvisionCmd = &command{
	name:    "tag provision",
	summary: "personalise a tag for a profile",
	synopsis: `nfcd tag provision --profile FILE --name PROFILE --url TEMPLATE [--reader GLOB] [--key0 HEX]
    [--enc-data TEXT] [--enable-lrp-irreversibly] [--dry-run] [--json]`,
	about: `Writes the NDEF message with the SDM offsets computed from TEMPLATE (placeholders
{uid} {ctr} {picc_data} {enc} {cmac}, each the whole value of a parameter named as
the profile names it), sets the NDEF file's SDM settings (read free, write and
change with key 0), changes the keys the profile sets (each proven before and
after, key 0 last), then reads the tag as a tap does: ok only if the SUN verifies.
--key0 is the tag's current key 0 (default the factory zero key); on a refusal
nothing changes. --dry-run prints the plan (APDUs without key bytes, offsets, a
sample URL) without a reader. With --json every finished step is one JSON object
{"type":"step",...} and the last line the result {"type":"result","ok":...}.`,
	example: "nfcd tag provision --profile tags.toml --name store-tags --url 'https://brand.example/t?picc_data={picc_data}&cmac={cmac}'",
	maxArgs: 0,
}

var tagResetCmd = &command{
	name:     "tag reset",
	summary:  "put a tag back to factory keys and settings",
	synopsis: "nfcd tag reset --profile FILE --name PROFILE [--reader GLOB] [--json]",
	about: `Restores the factory NDEF file settings, an empty NDEF file and the zero key at
version 00 for every key the profile set, key 0 last, for returns and re-use. The
tag must hold the profile's key 0 (or already the factory one). LRP, once on,
stays on.`,
	example: "nfcd tag reset --profile tags.toml --name store-tags",
	maxArgs: 0,
}

func init() {
	for _, c := range []*command{tagInspectCmd, tagProvisionCmd, tagResetCmd} {
		var o tagOpts
		sub := c.word()
		c.flags = func(fs *flag.FlagSet) { o.register(sub, fs) }
		c.run = func(e *env, _ []string) error { return o.run(sub, e) }
	}
}

// tagOpts are the flags of the tag commands.
type tagOpts struct {
	profileFile, name, url, reader, key0, journal, stateDir, encData string
	dryRun, enableLRP, asJSON, verbose                               bool
	wait                                                             time.Duration
}

func (o *tagOpts) register(sub string, fs *flag.FlagSet) {
	fs.StringVar(&o.reader, "reader", "", "use the first reader matching this `glob` (default: any)")
	fs.StringVar(&o.profileFile, "profile", "", "TOML profile `file`")
	fs.StringVar(&o.key0, "key0", "", "the tag's current key 0, 32 `hex` digits (provision default: the factory zero key)")
	fs.BoolVar(&o.asJSON, "json", false, "one JSON object per step and a final result object")
	fs.DurationVar(&o.wait, "wait", time.Minute, "how long to wait for a tag")
	fs.StringVar(&o.journal, "journal", "", "journal `file` (default: provision.db in the state directory)")
	fs.StringVar(&o.stateDir, "state-dir", "", "state `directory` (default per OS)")
	fs.BoolVar(&o.verbose, "v", false, "log PC/SC diagnostics to stderr")
	if sub != "inspect" {
		fs.StringVar(&o.name, "name", "", "the profile's `name` in the file")
	}
	if sub == "provision" {
		fs.StringVar(&o.url, "url", "", "URL `template` with placeholders, e.g. https://brand.example/t?picc_data={picc_data}&cmac={cmac}")
		fs.StringVar(&o.encData, "enc-data", "", "SDMENCFileData plaintext for encfile profiles, `text` padded with zeros to 16 bytes (default 16 'x')")
		fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan (APDUs without key bytes, offsets, a sample URL) and change nothing")
		fs.BoolVar(&o.enableLRP, "enable-lrp-irreversibly", false, "allow switching an AES tag to LRP for an LRP profile (the tag can never go back)")
	}
}

func (o *tagOpts) run(sub string, e *env) error {
	if sub != "inspect" && (o.profileFile == "" || o.name == "") {
		return usageError("--profile and --name are required")
	}
	if sub == "provision" && o.url == "" {
		return usageError("--url is required")
	}
	if sub == "inspect" && o.key0 != "" && o.profileFile != "" {
		return usageError("give --key0 or --profile, not both")
	}
	var key0 *ntag424.Key
	if o.key0 != "" {
		k, err := profile.ParseKey("--key0", o.key0, false)
		if err != nil {
			return err
		}
		key0 = &k
	}

	out := &tagOutput{w: e.stdout, json: o.asJSON}
	var specs []profile.Spec
	if o.profileFile != "" {
		var err error
		if specs, err = profile.LoadSpecs(o.profileFile); err != nil {
			return err
		}
	}
	var target *provision.Target
	if sub != "inspect" {
		i := slices.IndexFunc(specs, func(s profile.Spec) bool { return s.Name == o.name })
		if i < 0 {
			return fmt.Errorf("nfcd tag %s: no profile %q in %s", sub, o.name, o.profileFile)
		}
		var fileData []byte
		if o.encData != "" {
			fileData = []byte(o.encData)
			if n := len(fileData); n%16 != 0 {
				fileData = append(fileData, make([]byte, 16-n%16)...)
			}
		}
		url := o.url
		if sub == "reset" {
			url = resetTemplate(specs[i])
		}
		var err error
		if target, err = provision.NewTarget(specs[i], url, fileData); err != nil {
			return err
		}
	}
	if sub == "provision" && o.dryRun {
		return out.plan(target)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	journalPath := o.journal
	if journalPath == "" {
		dir, err := stateDir(o.stateDir)
		if err != nil {
			return err
		}
		journalPath = filepath.Join(dir, "provision.db")
	}
	journal, err := provision.OpenJournal(journalPath, 2*time.Second)
	if err != nil {
		return err
	}
	defer journal.Close()

	log := zap.NewNop()
	if o.verbose {
		log = newCLILogger(e.stderr, zapcore.DebugLevel)
	}
	var include []string
	if o.reader != "" {
		include = []string{o.reader}
	}
	mon, err := pcsc.Open(ctx, log.Named("pcsc"), pcsc.Options{Include: include})
	if err != nil {
		return err
	}
	mctx, mcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	reader := provision.NewReader(mon, o.reader)
	reader.Wait = o.wait
	go func() { reader.Run(mctx); close(done) }()
	defer func() {
		reader.Close()
		mcancel()
		<-done
	}()
	fmt.Fprintln(e.stderr, "nfcd tag: waiting for a tag on the reader...")
	if err := reader.WaitCard(ctx); err != nil {
		return err
	}

	switch sub {
	case "inspect":
		set, targets := inspectProfiles(specs)
		rep, err := provision.Inspect(ctx, reader, provision.InspectOptions{Profiles: set, Targets: targets, Key0: key0, Journal: journal})
		if err != nil {
			return err
		}
		return out.report(rep)
	default:
		opts := provision.Options{Key0: key0, EnableLRP: o.enableLRP, Journal: journal, Progress: out.step, Log: log.Named("provision")}
		var res *provision.Result
		if sub == "provision" {
			res, err = provision.Provision(ctx, reader, target, opts)
		} else {
			res, err = provision.Reset(ctx, reader, target, opts)
		}
		var marks *marksRestart
		if err == nil && res != nil && res.OK {
			marks = restartMarks(o.stateDir, res)
		}
		out.result(res, err, marks)
		if errors.Is(err, provision.ErrWrongKey0) {
			// Show what the tag is, to say why (no key is tried).
			set, _ := inspectProfiles(specs)
			if rep, err2 := provision.Inspect(ctx, reader, provision.InspectOptions{Profiles: set, Journal: journal}); err2 == nil {
				out.report(rep)
			}
		}
		if err != nil {
			return errInvalid // the result says what failed
		}
		return nil
	}
}

// resetTemplate is a template that satisfies the profile's mode: reset
// only needs the profile's keys, not its URL.
func resetTemplate(s profile.Spec) string {
	l, err := s.LayoutSpec.Layout()
	if err != nil {
		return ""
	}
	p, err := ntag424.NewProfile(l, ntag424.Keys{})
	if err != nil {
		return ""
	}
	n := p.Layout().Names
	switch p.Layout().Mode {
	case ntag424.ModePlain:
		if p.Layout().NoCtr {
			return "https://reset.invalid/?" + n.UID + "={uid}&" + n.CMAC + "={cmac}"
		}
		return "https://reset.invalid/?" + n.UID + "={uid}&" + n.Ctr + "={ctr}&" + n.CMAC + "={cmac}"
	case ntag424.ModeEnc:
		return "https://reset.invalid/?" + n.PICCData + "={picc_data}&" + n.CMAC + "={cmac}"
	}
	return "https://reset.invalid/?" + n.PICCData + "={picc_data}&" + n.Enc + "={enc}&" + n.CMAC + "={cmac}"
}

// inspectProfiles compiles the profiles of a file for verification, and
// those with app_master_key as targets (for key 0).
func inspectProfiles(specs []profile.Spec) (profile.Set, map[string]*provision.Target) {
	var set profile.Set
	targets := map[string]*provision.Target{}
	for _, s := range specs {
		p, err := s.Compile(false)
		if err != nil {
			continue
		}
		set = append(set, p)
		if s.AppMasterKey != "" {
			if t, err := provision.NewTarget(s, resetTemplate(s), nil); err == nil {
				targets[s.Name] = t
			}
		}
	}
	return set, targets
}

// tagOutput prints steps and results as text or JSON lines.
type tagOutput struct {
	w    io.Writer
	json bool
}

// emit writes v as one JSON line with "type" first.
func (o *tagOutput) emit(typ string, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	line := b.Bytes()
	head := `{"type":"` + typ + `"`
	if len(line) > 3 && line[0] == '{' && line[1] != '}' {
		fmt.Fprintf(o.w, "%s,%s", head, line[1:])
		return
	}
	fmt.Fprintf(o.w, "%s}\n", head)
}

// step prints a finished step (the start events are for live UIs).
func (o *tagOutput) step(ev provision.StepEvent) {
	if ev.Status == "start" {
		return
	}
	if o.json {
		o.emit("step", ev)
		return
	}
	line := fmt.Sprintf("%-14s %-8s", ev.Step, ev.Status)
	if ev.Detail != "" {
		line += " " + ev.Detail
	}
	if ev.APDUs > 0 {
		line += fmt.Sprintf(" (%d APDUs, %.1f ms)", ev.APDUs, ev.ElapsedMS)
	}
	fmt.Fprintln(o.w, line)
}

func (o *tagOutput) result(res *provision.Result, err error, marks *marksRestart) {
	if res == nil {
		res = &provision.Result{}
	}
	if o.json {
		v := struct {
			*provision.Result
			Marks *marksRestart `json:"replay_marks,omitempty"`
			Error string        `json:"error,omitempty"`
		}{Result: res, Marks: marks}
		if err != nil {
			v.Error = strings.TrimPrefix(err.Error(), "provision: ")
		}
		o.emit("result", v)
		return
	}
	switch {
	case err == nil && res.Op == provision.OpReset:
		fmt.Fprintf(o.w, "ok: tag %s reset to factory keys and settings (%d APDUs, %.0f ms)\n", res.UID, res.APDUs, res.ElapsedMS)
	case err == nil:
		fmt.Fprintf(o.w, "ok: tag %s personalised for %s; a read verified, counter %d (%d APDUs, %.0f ms)\n  %s\n", res.UID, res.Profile, res.Ctr, res.APDUs, res.ElapsedMS, res.URL)
	default:
		fmt.Fprintf(o.w, "failed: %v\n", strings.TrimPrefix(err.Error(), "provision: "))
	}
	if res.Note != "" {
		fmt.Fprintf(o.w, "  %s\n", res.Note)
	}
	if marks != nil {
		fmt.Fprintf(o.w, "  %s\n", marks.text())
	}
}

func (o *tagOutput) report(rep *provision.Report) error {
	if o.json {
		o.emit("result", rep)
		return nil
	}
	w := o.w
	fmt.Fprintf(w, "UID          %s", rep.UID)
	if rep.RandomID {
		fmt.Fprint(w, " (Random ID)")
	}
	fmt.Fprintf(w, "\nversions     hardware %s, software %s, storage %s, produced %s", rep.Hardware, rep.Software, rep.Storage, rep.Produced)
	if rep.TagTamper {
		fmt.Fprint(w, ", TagTamper")
	}
	fmt.Fprintf(w, "\noriginality  %s\n", rep.Originality)
	for _, f := range rep.Files {
		text := f.Text
		if f.Error != "" {
			text = "unreadable: " + f.Error
		}
		fmt.Fprintf(w, "file %02X      %s\n", f.File, text)
	}
	fmt.Fprintf(w, "key versions %v\n", rep.KeyVersions)
	fmt.Fprintf(w, "key 0        %s\n", rep.Key0)
	if rep.Crypto != "" {
		fmt.Fprintf(w, "messaging    %s\n", rep.Crypto)
	}
	fmt.Fprintf(w, "URL          %s\n", rep.URL)
	if s := rep.SUN; s != nil {
		fmt.Fprintf(w, "SUN          %s", s.Verdict)
		if s.Profile != "" {
			fmt.Fprintf(w, " under profile %q", s.Profile)
		}
		fmt.Fprintf(w, " (%s", s.Reason)
		if s.Detail != "" {
			fmt.Fprintf(w, ": %s", s.Detail)
		}
		fmt.Fprint(w, ")")
		if s.Verified {
			fmt.Fprintf(w, ", counter %d", s.Ctr)
		}
		fmt.Fprintln(w)
	}
	if r := rep.Journal; r != nil {
		fmt.Fprintf(w, "journal      %s for %q: %s, updated %s\n", r.Op, r.Profile, r.State, r.Updated.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "summary      %s\n", rep.Summary)
	return nil
}

// plan prints the dry run: every step with its APDUs (no key bytes), the
// offsets, and the URL a tap will produce.
func (o *tagOutput) plan(t *provision.Target) error {
	uid := [ntag424.UIDLen]byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
	sample, err := t.SampleURL(uid, 1)
	if err != nil {
		return err
	}
	for _, s := range t.Plan() {
		if o.json {
			o.emit("step", s)
			continue
		}
		fmt.Fprintf(o.w, "%-14s %s\n", s.Step, s.What)
		if s.Detail != "" {
			fmt.Fprintf(o.w, "               %s\n", s.Detail)
		}
		for _, a := range s.APDUs {
			fmt.Fprintf(o.w, "               > %s\n", a)
		}
	}
	if o.json {
		o.emit("result", map[string]any{"ok": true, "dry_run": true, "profile": t.Name, "template": t.Template,
			"sdm": t.SDM.SDM, "sample_uid": fmt.Sprintf("%X", uid[:]), "sample_url": sample})
		return nil
	}
	fmt.Fprintf(o.w, "dry run: nothing was sent to a tag.\nA tag with UID %X will read, at counter 1:\n  %s\n", uid[:], sample)
	return nil
}

// marksRestart is what became of the personalised tag's replay marks in
// the state directory (store.RestartMarks): enabling SDM set the tag's
// counter back to 0, so the marks of its earlier life would call its next
// taps replays.
type marksRestart struct {
	Restarted bool            `json:"restarted"`
	Previous  ntag424.Counter `json:"previous"`        // the highest mark deleted; null: none
	Error     string          `json:"error,omitempty"` // why they could not be restarted
}

func (m *marksRestart) text() string {
	switch {
	case m.Error != "":
		return "replay marks not restarted: " + m.Error
	case m.Previous.Valid:
		return fmt.Sprintf("replay marks restarted: this station had accepted counter %s of this tag before", m.Previous)
	default:
		return "replay marks restarted (this station had not seen the tag)"
	}
}

// restartMarks restarts the replay marks of the tag res names in the state
// directory: through the daemon that holds it, or in the store itself. A
// state directory without a store has nothing to restart.
func restartMarks(flagDir string, res *provision.Result) *marksRestart {
	dir, err := stateDir(flagDir)
	if err != nil {
		return &marksRestart{Error: err.Error()}
	}
	req := daemon.MarksRestart{UID: res.UID}
	if res.Op != provision.OpReset {
		req.Profile, req.Ctr = res.Profile, ntag424.CounterOf(res.Ctr)
	}
	var resp daemon.MarksRestarted
	running, err := callDaemon(dir, daemon.AdminMarksRestart, req, &resp)
	if running {
		if err != nil {
			return &marksRestart{Error: err.Error()}
		}
		return &marksRestart{Restarted: true, Previous: resp.Previous}
	}
	path := statedir.PathsOf(dir).DB
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return &marksRestart{Restarted: true}
	}
	st, err := store.Open(path, store.Options{Timeout: -1})
	if errors.Is(err, store.ErrLocked) {
		return &marksRestart{Error: lockedError(dir).Error()}
	}
	if err != nil {
		return &marksRestart{Error: err.Error()}
	}
	defer st.Close()
	uid, err := hex.DecodeString(req.UID)
	if err != nil {
		return &marksRestart{Error: "the tag's UID is not hex"}
	}
	prev, err := st.RestartMarks(uid, req.Profile, req.Ctr)
	if err != nil {
		return &marksRestart{Error: err.Error()}
	}
	return &marksRestart{Restarted: true, Previous: prev}
}
