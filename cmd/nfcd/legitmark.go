package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/nfcd/nfcd/internal/buildinfo"
	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/station"
	"github.com/nfcd/nfcd/internal/store"
)

var legitmarkCmd = &command{
	name:     "legitmark",
	summary:  "expert authentication with Legitmark: taxonomy, service requests, photos",
	synopsis: "nfcd legitmark services|taxonomy|sr|actor [flags]",
	about: `Operator commands for the authentication station ([remote.legitmark] in the
configuration). Service requests (SRs) in progress are kept in the state
directory's journal, which the running daemon holds: stop it, or use the
kiosk page, while these commands need the journal (sr create, upload,
submit, status --wait); sr list reads it through the running daemon. With
--json every command prints one JSON object per line, the last one its
result.`,
	example: "nfcd legitmark taxonomy --config /etc/nfcd/nfcd.toml",
	subs:    []*command{lmServicesCmd, lmTaxonomyCmd, lmSRCmd, lmActorCmd},
}

var lmSRCmd = &command{
	name:     "legitmark sr",
	summary:  "create, photograph, submit and follow service requests",
	synopsis: "nfcd legitmark sr create|upload|submit|status|list [flags]",
	about:    "Service requests: create one for an item, upload a photo per required side,\nsubmit it, and follow its status to the expert's verdict.",
	example:  "nfcd legitmark sr list --config nfcd.toml",
}

var lmActorCmd = &command{
	name:     "legitmark actor",
	summary:  "register the station's actor (older auth model)",
	synopsis: "nfcd legitmark actor register [flags]",
	about:    "With auth = \"x-api-key\", requests carry an actor token from registration.",
	example:  "nfcd legitmark actor register --actor-id kiosk42 --email ops@example.com ...",
}

var (
	lmServicesCmd = &command{
		name: "legitmark services", summary: "list the authentication services",
		synopsis: "nfcd legitmark services [--config FILE] [--state-dir DIR] [--json]",
		about:    "Lists the services Legitmark offers; also checks that the API key works.",
		example:  "nfcd legitmark services --config nfcd.toml", maxArgs: 0,
	}
	lmTaxonomyCmd = &command{
		name: "legitmark taxonomy", summary: "list categories, types and brands",
		synopsis: "nfcd legitmark taxonomy [--config FILE] [--state-dir DIR] [--json]",
		about:    "Lists the active categories with their types and brands: the names sr create takes.",
		example:  "nfcd legitmark taxonomy --config nfcd.toml --json", maxArgs: 0,
	}
	lmCreateCmd = &command{
		name: "legitmark sr create", summary: "create a service request for an item",
		synopsis: "nfcd legitmark sr create --category NAME --type NAME [--brand NAME] [--model UUID] [--reference REF] [--config FILE] [--state-dir DIR] [--json]",
		about: `Creates a draft SR. Category, type and brand are names (or UUIDs) from
"nfcd legitmark taxonomy". The reference identifies the SR on the station's
side; without --reference one is made: <station_id>-<ULID>. Creating twice
with one reference returns the first SR. The result has "uuid" and "state".`,
		example: "nfcd legitmark sr create --category Footwear --type Sneakers --brand Nike --reference kiosk42-0001", maxArgs: 0,
	}
	lmUploadCmd = &command{
		name: "legitmark sr upload", summary: "upload a photo per side from a directory",
		synopsis: "nfcd legitmark sr upload UUID DIR [--config FILE] [--state-dir DIR] [--json]",
		about: `Uploads the photos in DIR, one per side, each named after its side:
front.jpg, box-label.png ("Box Label"). Photos are checked and prepared
first (JPEG or PNG, at least 600×600, metadata removed, under 5 MB). Sides
uploaded before with the same photo are skipped, so a run that was cut off
can simply be repeated.`,
		example: "nfcd legitmark sr upload 3f6c…e1 ./photos", maxArgs: 2, interspersed: true,
	}
	lmSubmitCmd = &command{
		name: "legitmark sr submit", summary: "submit a service request for authentication",
		synopsis: "nfcd legitmark sr submit UUID [--config FILE] [--state-dir DIR] [--json]",
		about:    "Submits the SR once every required side has a photo; otherwise it is refused\nwith the sides still missing (exit 1).",
		example:  "nfcd legitmark sr submit 3f6c…e1", maxArgs: 1, interspersed: true,
	}
	lmStatusCmd = &command{
		name: "legitmark sr status", summary: "show a service request's status",
		synopsis: "nfcd legitmark sr status UUID [--wait] [--config FILE] [--state-dir DIR] [--json]",
		about: `Shows the SR's state and what it means ("status": draft, in_progress,
needs_resubmission, authentic, not_authentic, complete, cancelled). With
--wait it polls until the SR settles and prints each change.`,
		example: "nfcd legitmark sr status 3f6c…e1 --wait", maxArgs: 1, interspersed: true,
	}
	lmListCmd = &command{
		name: "legitmark sr list", summary: "list the station's service requests",
		synopsis: "nfcd legitmark sr list [--config FILE] [--state-dir DIR] [--json]",
		about: `Lists the SRs in the station's journal, newest first, with their phase;
through the daemon when one runs on the state directory.`,
		example: "nfcd legitmark sr list --json", maxArgs: 0,
	}
	lmRegisterCmd = &command{
		name: "legitmark actor register", summary: "register the actor and keep its token",
		synopsis: "nfcd legitmark actor register --actor-id ID --email ADDR --first-name NAME --last-name NAME --business-name NAME --certificate-name NAME [--config FILE] [--state-dir DIR] [--json]",
		about: `Registers the station's actor (POST /api/actor/users, older auth model) and
keeps the actor token in the state directory (0600); it is never printed.
The details are sent once and not stored.`,
		example: "nfcd legitmark actor register --actor-id kiosk42 --email ops@example.com --first-name A --last-name B --business-name Shop --certificate-name \"Shop - A B\"", maxArgs: 0,
	}
)

func init() {
	lmSRCmd.subs = []*command{lmCreateCmd, lmUploadCmd, lmSubmitCmd, lmStatusCmd, lmListCmd}
	lmActorCmd.subs = []*command{lmRegisterCmd}
	var (
		f                     lmFlags
		category, typ, brand  string
		model, reference, svc string
		wait                  bool
		actor                 legitmark.ActorUser
	)
	common := func(fs *flag.FlagSet) { f.register(fs) }
	lmServicesCmd.flags, lmTaxonomyCmd.flags, lmListCmd.flags = common, common, common
	lmSubmitCmd.flags, lmUploadCmd.flags = common, common
	lmCreateCmd.flags = func(fs *flag.FlagSet) {
		f.register(fs)
		fs.StringVar(&category, "category", "", "category `name` or UUID")
		fs.StringVar(&typ, "type", "", "type `name` or UUID")
		fs.StringVar(&brand, "brand", "", "brand `name` or UUID (recommended)")
		fs.StringVar(&model, "model", "", "model `UUID` (optional)")
		fs.StringVar(&reference, "reference", "", "the SR's `reference` (default <station_id>-<ULID>)")
		fs.StringVar(&svc, "service", "", "service `UUID` (default: the configured one, else the service decides)")
	}
	lmStatusCmd.flags = func(fs *flag.FlagSet) {
		f.register(fs)
		fs.BoolVar(&wait, "wait", false, "poll until the SR settles, printing each change")
	}
	lmRegisterCmd.flags = func(fs *flag.FlagSet) {
		f.register(fs)
		fs.StringVar(&actor.ActorUserID, "actor-id", "", "your internal `ID` for the actor (not PII)")
		fs.StringVar(&actor.Email, "email", "", "contact `address`")
		fs.StringVar(&actor.FirstName, "first-name", "", "first `name`")
		fs.StringVar(&actor.LastName, "last-name", "", "last `name`")
		fs.StringVar(&actor.BusinessName, "business-name", "", "business `name`")
		fs.StringVar(&actor.CertificateIssuanceName, "certificate-name", "", "the `name` printed on certificates")
	}

	lmServicesCmd.run = func(e *env, _ []string) error {
		s, err := f.open(e, journalNone)
		if err != nil {
			return err
		}
		defer s.close()
		svcs, err := s.c.Services(s.ctx)
		if err != nil {
			return s.fail(err)
		}
		if f.json {
			return writeJSON(e.stdout, map[string]any{"services": svcs})
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "UUID\tNAME\tDESCRIPTION")
		for _, sv := range svcs {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", sv.UUID, sv.Name, sv.Description)
		}
		return tw.Flush()
	}
	lmTaxonomyCmd.run = func(e *env, _ []string) error {
		s, err := f.open(e, journalNone)
		if err != nil {
			return err
		}
		defer s.close()
		t, err := station.LoadTaxonomy(s.ctx, s.c)
		if err != nil {
			return s.fail(err)
		}
		if f.json {
			return writeJSON(e.stdout, t)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CATEGORY\tTYPE\tBRANDS")
		for _, c := range t.Categories {
			for _, ty := range c.Types {
				var bs []string
				for _, b := range ty.Brands {
					bs = append(bs, b.Name)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, ty.Name, strings.Join(bs, ", "))
			}
		}
		return tw.Flush()
	}
	lmCreateCmd.run = func(e *env, _ []string) error {
		if category == "" || typ == "" {
			return usageError("--category and --type are required")
		}
		s, err := f.open(e, journalWrite)
		if err != nil {
			return err
		}
		defer s.close()
		t, err := station.LoadTaxonomy(s.ctx, s.c)
		if err != nil {
			return s.fail(err)
		}
		ch, err := t.Resolve(category, typ, brand)
		if err != nil {
			return usageError("%v", err)
		}
		if reference == "" {
			if reference, err = station.NewReference(s.cfg.StationID); err != nil {
				return err
			}
		}
		rec, err := s.w.Create(s.ctx, legitmark.CreateRequest{Reference: reference, Service: svc,
			Category: ch.Category, Type: ch.Type, Brand: ch.Brand, Model: model})
		if err != nil {
			if errors.Is(err, legitmark.ErrBadInput) {
				return usageError("--reference: 1–100 letters, digits or ._:-")
			}
			return s.fail(err)
		}
		out := srOut(rec)
		if f.json {
			return writeJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "created %s (micro id %s, reference %s), state %s\n", rec.UUID, rec.MicroID, rec.Reference, out.State)
		return nil
	}
	lmUploadCmd.run = func(e *env, args []string) error {
		if len(args) != 2 {
			return usageError("need the SR's UUID and a directory")
		}
		photos, err := readPhotos(args[1])
		if err != nil {
			return err
		}
		s, err := f.open(e, journalWrite)
		if err != nil {
			return err
		}
		defer s.close()
		return s.upload(args[0], photos)
	}
	lmSubmitCmd.run = func(e *env, args []string) error {
		if len(args) != 1 {
			return usageError("need the SR's UUID")
		}
		s, err := f.open(e, journalWrite)
		if err != nil {
			return err
		}
		defer s.close()
		rec, err := s.w.Submit(s.ctx, args[0])
		var nm *legitmark.NotMetError
		if errors.As(err, &nm) {
			var names []string
			for _, sd := range nm.Missing {
				names = append(names, legitmark.SideKey(sd.Name))
			}
			if f.json {
				writeJSON(e.stdout, map[string]any{"uuid": args[0], "error": "requirements_not_met", "missing": names,
					"progress": nm.Progress})
			} else {
				fmt.Fprintf(e.stderr, "nfcd: not submitted: %d of %d required photos uploaded; missing: %s\n",
					nm.Progress.CurrentRequired, nm.Progress.TotalRequired, strings.Join(names, ", "))
			}
			return errInvalid
		}
		if err != nil {
			return s.fail(err)
		}
		out := srOut(rec)
		if f.json {
			return writeJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "submitted %s, state %s\n", rec.UUID, out.State)
		return nil
	}
	lmStatusCmd.run = func(e *env, args []string) error {
		if len(args) != 1 {
			return usageError("need the SR's UUID")
		}
		// A one-off read needs no journal (and works while the daemon
		// runs); --wait records what it sees.
		mode := journalNone
		if wait {
			mode = journalWrite
		}
		s, err := f.open(e, mode)
		if err != nil {
			return err
		}
		defer s.close()
		print := func(st legitmark.Status, last bool) {
			out := statusOut(st)
			if f.json {
				if !last {
					out.Event = "status"
				}
				writeJSON(e.stdout, out)
				return
			}
			line := fmt.Sprintf("%s  %s  %s", st.SR, out.State, out.Status)
			if st.CertificateURL != "" {
				line += "  certificate " + st.CertificateURL
			}
			fmt.Fprintln(e.stdout, line)
		}
		if !wait {
			s.w = legitmark.NewWorkflow(s.c, &legitmark.MemJournal{}, nil)
		}
		var st legitmark.Status
		if wait {
			st, err = s.w.Watch(s.ctx, args[0], func(x legitmark.Status) {
				if !x.State.Settled() {
					print(x, false)
				}
			})
		} else {
			st, err = s.w.Status(s.ctx, args[0])
		}
		if err != nil {
			return s.fail(err)
		}
		print(st, true)
		return nil
	}
	lmListCmd.run = func(e *env, _ []string) error {
		rs, err := f.records(e)
		if err != nil {
			return err
		}
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Created.After(rs[j].Created) })
		outs := make([]srResult, 0, len(rs))
		for _, r := range rs {
			outs = append(outs, srOut(r))
		}
		if f.json {
			return writeJSON(e.stdout, map[string]any{"srs": outs})
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CREATED\tUUID\tMICRO ID\tREFERENCE\tPHASE\tSTATE\tPHOTOS")
		for _, o := range outs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", o.Created.Format(humanTime), o.UUID, o.MicroID, o.Reference, o.Phase, o.State, o.Photos)
		}
		return tw.Flush()
	}
	lmRegisterCmd.run = func(e *env, _ []string) error {
		for name, v := range map[string]string{"--actor-id": actor.ActorUserID, "--email": actor.Email, "--first-name": actor.FirstName,
			"--last-name": actor.LastName, "--business-name": actor.BusinessName, "--certificate-name": actor.CertificateIssuanceName} {
			if strings.TrimSpace(v) == "" {
				return usageError("%s is required", name)
			}
		}
		s, err := f.open(e, journalNone)
		if err != nil {
			return err
		}
		defer s.close()
		if _, err := s.c.RegisterActor(s.ctx, actor); err != nil {
			return s.fail(err)
		}
		if f.json {
			return writeJSON(e.stdout, map[string]any{"registered": true, "token_file": s.paths.LegitmarkToken})
		}
		fmt.Fprintf(e.stdout, "registered; the actor token is kept in %s (not shown)\n", s.paths.LegitmarkToken)
		return nil
	}
}

// lmFlags are the flags every legitmark command takes.
type lmFlags struct {
	config, stateDir string
	json             bool
}

func (f *lmFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "configuration `file` with [remote.legitmark]")
	fs.StringVar(&f.stateDir, "state-dir", "", "state `directory` (journal, actor token; default per OS)")
	fs.BoolVar(&f.json, "json", false, "print JSON objects, one per line, the last one the result")
}

// records reads the station's SRs: from the daemon that holds the state
// directory's store when one runs there (admin API), else from the store.
func (f *lmFlags) records(e *env) ([]*legitmark.Record, error) {
	s, err := f.open(e, journalNone)
	if err != nil {
		return nil, err
	}
	var res daemon.LegitmarkSRList
	running, err := callDaemon(s.paths.Dir, daemon.AdminLegitmarkSRList, nil, &res)
	s.close()
	if running {
		return res.Records, err
	}
	if s, err = f.open(e, journalRead); err != nil {
		return nil, err
	}
	defer s.close()
	return s.w.Records(s.ctx)
}

// lmSession is an open legitmark command: the client, and with a journal
// the workflow over the state directory's store.
type lmSession struct {
	e     *env
	ctx   context.Context
	stop  context.CancelFunc
	cfg   legitmark.Config
	c     *legitmark.Client
	w     *legitmark.Workflow
	st    *store.Store
	paths statedir.Paths
	json  bool
}

// How a command uses the journal.
const (
	journalNone  = 0
	journalWrite = 1
	journalRead  = 2 // read-only: a state directory without a store lists nothing
)

func (f *lmFlags) open(e *env, journal int) (*lmSession, error) {
	if f.config == "" {
		return nil, usageError("--config is required: the file with the [remote.legitmark] section")
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, err
	}
	if cfg.Remote.Legitmark == nil {
		return nil, fmt.Errorf("%s has no [remote.legitmark] section", f.config)
	}
	dir, err := stateDir(f.stateDir)
	if err != nil {
		return nil, err
	}
	s := &lmSession{e: e, cfg: cfg.Remote.Legitmark.WithDefaults(), paths: statedir.PathsOf(dir), json: f.json}
	log, err := newDaemonLogger(e.stderr, "warn")
	if err != nil {
		return nil, err
	}
	s.c, err = legitmark.New(*cfg.Remote.Legitmark, legitmark.Options{Log: log,
		Tokens: station.TokenFile{Path: s.paths.LegitmarkToken}, UserAgent: "nfcd/" + buildinfo.Get().Version})
	if err != nil {
		return nil, err
	}
	switch journal {
	case journalWrite:
		s.st, err = store.Open(s.paths.DB, store.Options{Timeout: 500 * time.Millisecond})
	case journalRead:
		s.st, err = store.OpenReadOnly(s.paths.DB, store.Options{Timeout: 500 * time.Millisecond})
		if errors.Is(err, fs.ErrNotExist) {
			s.st, err = nil, nil
		}
	}
	if journal != journalNone {
		switch {
		case errors.Is(err, store.ErrLocked):
			return nil, fmt.Errorf("the running nfcd holds %s: use the kiosk page, or stop the daemon first", s.paths.DB)
		case err != nil:
			return nil, err
		}
		var j legitmark.Journal = &legitmark.MemJournal{}
		if s.st != nil {
			j = s.st.SRJournal()
		}
		s.w = legitmark.NewWorkflow(s.c, j, log)
	}
	s.ctx, s.stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return s, nil
}

func (s *lmSession) close() {
	s.stop()
	if s.st != nil {
		s.st.Close()
	}
}

// fail reports an error by its code and text (which never holds a
// secret); exit 1.
func (s *lmSession) fail(err error) error {
	return fmt.Errorf("%s: %w", legitmark.ErrorCode(err), err)
}

// srResult is the JSON form of an SR.
type srResult struct {
	Event          string    `json:"event,omitempty"`
	UUID           string    `json:"uuid"`
	MicroID        string    `json:"micro_id,omitempty"`
	Reference      string    `json:"reference"`
	Phase          string    `json:"phase"`
	State          string    `json:"state"`
	CertificateURL string    `json:"certificate_url,omitempty"`
	Photos         int       `json:"photos"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated"`
}

func srOut(r *legitmark.Record) srResult {
	return srResult{UUID: r.UUID, MicroID: r.MicroID, Reference: r.Reference, Phase: string(r.Phase), State: r.State.String(),
		CertificateURL: r.CertificateURL, Photos: len(r.Sides), Created: r.Created.UTC(), Updated: r.Updated.UTC()}
}

// statusResult is the JSON form of a status.
type statusResult struct {
	Event          string   `json:"event,omitempty"`
	UUID           string   `json:"uuid"`
	MicroID        string   `json:"micro_id,omitempty"`
	State          string   `json:"state"`
	Status         string   `json:"status"`
	Final          bool     `json:"final"`
	CertificateURL string   `json:"certificate_url,omitempty"`
	Missing        []string `json:"missing,omitempty"`
}

func statusOut(st legitmark.Status) statusResult {
	out := statusResult{UUID: st.SR, MicroID: st.MicroID, State: st.State.String(), Final: st.Final, CertificateURL: st.CertificateURL}
	s := st.State
	switch {
	case s.Draft():
		out.Status = "draft"
	case s.Authentic():
		out.Status = "authentic"
	case s.Counterfeit():
		out.Status = "not_authentic"
	case s.Primary == legitmark.StateCancelled:
		out.Status = "cancelled"
	case s.Final():
		out.Status = "complete"
	case s.NeedsResubmission():
		out.Status = "needs_resubmission"
	default:
		out.Status = "in_progress"
	}
	for _, sd := range st.Missing {
		out.Missing = append(out.Missing, legitmark.SideKey(sd.Name))
	}
	return out
}

// readPhotos reads DIR's photos: *.jpg, *.jpeg and *.png, each named after
// its side. Other files are ignored; two photos for one side are refused.
func readPhotos(dir string) ([]legitmark.SideImage, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError("%s does not exist", dir)
	}
	if err != nil {
		return nil, err
	}
	var out []legitmark.SideImage
	seen := map[string]string{}
	for _, e := range es {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			continue
		}
		key := legitmark.SideKey(strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())))
		if prev, dup := seen[key]; dup {
			return nil, usageError("%s and %s are both for side %q", prev, e.Name(), key)
		}
		seen[key] = e.Name()
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, legitmark.SideImage{Side: key, Data: b})
	}
	if len(out) == 0 {
		return nil, usageError("%s has no .jpg, .jpeg or .png photos", dir)
	}
	return out, nil
}

// upload runs sr upload: a progress bar on stderr (or progress lines with
// --json), then the result.
func (s *lmSession) upload(uuid string, photos []legitmark.SideImage) error {
	e := s.e
	var (
		mu    sync.Mutex
		sent  = map[string]int64{}
		total = map[string]int64{}
		bar   *progressbar.ProgressBar
	)
	if !s.json {
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(e.stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("uploading"), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish(),
			// No ticker goroutine: the library's ticker reads the bar's state
			// without its lock (a data race); the bar redraws on progress.
			progressbar.OptionSetSpinnerChangeInterval(0))
	}
	res, err := s.w.Upload(s.ctx, uuid, photos, func(p legitmark.UploadProgress) {
		mu.Lock()
		defer mu.Unlock()
		if s.json {
			ev := map[string]any{"event": "progress", "side": legitmark.SideKey(p.SideName), "bytes": p.Bytes, "total": p.Total}
			switch {
			case p.Done && p.Err != nil:
				ev["event"], ev["code"] = "failed", legitmark.ErrorCode(p.Err)
			case p.Done && p.Skipped:
				ev["event"] = "skipped"
			case p.Done:
				ev["event"] = "uploaded"
			}
			writeJSON(e.stdout, ev)
			return
		}
		if p.Done && p.Err != nil {
			bar.Clear()
			fmt.Fprintf(e.stderr, "%s: %s (%s)\n", sideLabel(p.SideName), legitmark.ErrorCode(p.Err), errText(p.Err))
		}
		if p.Total > 0 {
			total[p.Side], sent[p.Side] = p.Total, p.Bytes
		}
		var a, b int64
		for k := range total {
			a, b = a+sent[k], b+total[k]
		}
		bar.ChangeMax64(b)
		bar.Set64(a)
	})
	if bar != nil {
		bar.Finish()
	}
	if res == nil {
		return s.fail(err)
	}
	failed := []map[string]string{}
	for _, f := range res.Failed {
		failed = append(failed, map[string]string{"side": legitmark.SideKey(f.SideName), "code": f.Code()})
	}
	if s.json {
		writeJSON(e.stdout, map[string]any{"uuid": uuid, "uploaded": keys(res.Uploaded), "skipped": keys(res.Skipped),
			"failed": failed, "progress": res.Progress})
	} else {
		fmt.Fprintf(e.stdout, "uploaded %d, skipped %d (already there), failed %d; %d of %d required photos in\n",
			len(res.Uploaded), len(res.Skipped), len(res.Failed), res.Progress.CurrentRequired, res.Progress.TotalRequired)
		if res.Progress.Met {
			fmt.Fprintf(e.stdout, "ready: nfcd legitmark sr submit %s\n", uuid)
		}
	}
	if err != nil {
		return errInvalid
	}
	return nil
}

func keys(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, legitmark.SideKey(n))
	}
	return out
}

func sideLabel(name string) string {
	if name == "" {
		return "photo"
	}
	return legitmark.SideKey(name)
}

// errText is an error's message without the package prefix.
func errText(err error) string {
	var se *legitmark.SideError
	if errors.As(err, &se) {
		err = se.Err
	}
	return strings.TrimPrefix(err.Error(), "legitmark: ")
}
