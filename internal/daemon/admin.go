package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/admin"
	"github.com/nfcd/nfcd/internal/history"
	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/remoteverify"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tlscert"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
)

// Admin methods (internal/admin) of the running daemon. Commands that
// need the state directory call them while a daemon holds it.
const (
	AdminStatus       = "status"        // → Status
	AdminHistoryQuery = "history.query" // history.Query → history.Result
	AdminKeyShow      = "key.show"      // → KeyInfo
	AdminTokenCreate  = "token.create"  // TokenRequest → TokenCreated
	AdminTokenList    = "token.list"    // → []TokenInfo
	AdminTokenRevoke  = "token.revoke"  // TokenRequest → {}
	AdminConfigReload = "config.reload" // → ReloadResult
	AdminOutboxStatus = "outbox.status" // → remoteverify.Status
	AdminOutboxRetry  = "outbox.retry"  // OutboxRequest → OutboxRequest
	AdminOutboxDrop   = "outbox.drop"   // OutboxRequest → OutboxRequest
	AdminMarksRestart = "marks.restart" // MarksRestart → MarksRestarted

	AdminLegitmarkSRList = "legitmark.sr.list" // → LegitmarkSRList
)

// LegitmarkSRList is the station's journal of service requests, one record
// per SR in order of creation (nfcd legitmark sr list while the daemon
// holds the store).
type LegitmarkSRList struct {
	Records []*legitmark.Record `json:"records"`
}

// MarksRestart asks to restart the replay marks of a tag that nfcd tag
// personalised or reset (store.RestartMarks).
type MarksRestart struct {
	UID     string          `json:"uid"` // hex
	Profile string          `json:"profile"`
	Ctr     ntag424.Counter `json:"ctr"` // the verifying read's counter; null after a reset
}

// MarksRestarted is the highest mark the restart deleted (null: none).
type MarksRestarted struct {
	Previous ntag424.Counter `json:"previous"`
}

// OutboxRequest names an outbox item.
type OutboxRequest struct {
	ID uint64 `json:"id"`
}

// Status describes the running daemon.
type Status struct {
	PID        int       `json:"pid"`
	Version    string    `json:"version"`
	StateDir   string    `json:"state_dir"`
	ConfigFile string    `json:"config_file"`
	Listen     string    `json:"listen"`
	Started    time.Time `json:"started"`
	PCSC       string    `json:"pcsc"`
	Readers    int       `json:"readers"`
}

// KeyInfo is the verdict public key.
type KeyInfo struct {
	Alg       string `json:"alg"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"` // base64url, no padding
	PublicHex string `json:"public_hex"`
	// TLSSHA256 is the fingerprint of the TLS certificate network clients
	// pin; "" while the daemon has never listened beyond loopback.
	TLSSHA256 string `json:"tls_sha256,omitempty"`
}

// TokenRequest names a token.
type TokenRequest struct {
	Name string `json:"name"`
}

// TokenCreated is a new token, shown once.
type TokenCreated struct {
	Name  string `json:"name"`
	Token string `json:"token"`
}

// TokenInfo lists a token without the token itself.
type TokenInfo struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

// KeyInfoOf describes the verdict public key pub.
func KeyInfoOf(pub []byte) KeyInfo {
	return KeyInfo{Alg: verdict.Alg, KeyID: verdict.KeyID(pub), PublicKey: base64.RawURLEncoding.EncodeToString(pub), PublicHex: hex.EncodeToString(pub)}
}

// startAdmin registers the admin methods and opens the admin channel of
// the state directory. Parts of the daemon with commands of their own (an
// outbox: "outbox.list", …) register theirs here with d.admin.Handle. A daemon without it still serves taps: commands
// then say that the store is held.
func (d *daemon) startAdmin(paths statedir.Paths) {
	d.admin = admin.NewServer(d.log)
	d.admin.Handle(AdminStatus, d.adminStatus)
	d.admin.Handle(AdminHistoryQuery, d.adminHistory)
	d.admin.Handle(AdminKeyShow, func(context.Context, json.RawMessage) (any, error) {
		ki := KeyInfoOf(d.signer.Public())
		if d.tls != nil && len(d.tls.Certificates) > 0 {
			ki.TLSSHA256 = tlscert.Fingerprint(d.tls.Certificates[0].Certificate[0])
		} else if fp, err := tlscert.ReadFingerprint(paths.TLS, paths.TLSCert); err == nil {
			ki.TLSSHA256 = fp
		}
		return ki, nil
	})
	d.admin.Handle(AdminTokenCreate, d.adminTokenCreate)
	d.admin.Handle(AdminTokenList, d.adminTokenList)
	d.admin.Handle(AdminTokenRevoke, d.adminTokenRevoke)
	d.admin.Handle(AdminConfigReload, func(ctx context.Context, _ json.RawMessage) (any, error) {
		return d.requestReload(ctx, reasonAdmin)
	})
	d.admin.Handle(AdminOutboxStatus, d.adminOutboxStatus)
	d.admin.Handle(AdminOutboxRetry, d.adminOutboxRetry)
	d.admin.Handle(AdminOutboxDrop, d.adminOutboxDrop)
	d.admin.Handle(AdminMarksRestart, d.adminMarksRestart)
	d.admin.Handle(AdminLegitmarkSRList, d.adminLegitmarkSRList)
	d.admin.Handle(AdminFleetStatus, d.adminFleetStatus)
	for _, h := range d.opts.AdminHandlers {
		d.admin.Handle(h.Method, h.Handler)
	}
	path := admin.Path(paths.Dir)
	ln, err := admin.Listen(path)
	if err != nil {
		d.log.Warn("admin api unavailable; commands cannot reach this daemon", zap.String("path", path), zap.Error(err))
		return
	}
	d.adminLn = ln
	d.log.Info("admin api", zap.String("path", path))
}

// AdminHandler is an admin method that the caller of Run adds.
type AdminHandler struct {
	Method  string
	Handler admin.Handler
}

// decode decodes an admin request strictly.
func decode(req json.RawMessage, v any) error {
	if len(req) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(req))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return admin.Errorf(admin.CodeBadRequest, "invalid request: %v", err)
	}
	return nil
}

func (d *daemon) adminStatus(context.Context, json.RawMessage) (any, error) {
	st := Status{PID: os.Getpid(), Version: d.opts.Version, StateDir: d.opts.StateDir, ConfigFile: d.opts.ConfigFile,
		Listen: d.ln.Addr().String(), Started: d.started.UTC(), PCSC: "simulated", Readers: len(d.pipeline.Readers())}
	if d.mon != nil {
		s, _ := d.mon.ServiceState()
		st.PCSC = s.String()
	}
	return st, nil
}

func (d *daemon) adminHistory(ctx context.Context, req json.RawMessage) (any, error) {
	var q history.Query
	if err := decode(req, &q); err != nil {
		return nil, err
	}
	sq, err := q.StoreQuery(time.Now())
	if err != nil {
		return nil, admin.Errorf(admin.CodeBadRequest, "%v", err)
	}
	es, err := d.store.Query(sq)
	if err != nil {
		return nil, err
	}
	return history.Result{Entries: history.Entries(es)}, nil
}

func (d *daemon) adminTokenCreate(_ context.Context, req json.RawMessage) (any, error) {
	var r TokenRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	tok, err := d.tokens.Store.Create(r.Name)
	if errors.Is(err, token.ErrExists) || errors.Is(err, token.ErrInvalidName) {
		return nil, admin.Errorf(admin.CodeBadRequest, "%v", err)
	}
	if err != nil {
		return nil, err
	}
	d.log.Info("token created", zap.String("name", r.Name))
	return TokenCreated{Name: r.Name, Token: tok}, nil
}

func (d *daemon) adminTokenList(context.Context, json.RawMessage) (any, error) {
	infos, err := d.tokens.Store.List()
	if err != nil {
		return nil, err
	}
	out := make([]TokenInfo, 0, len(infos))
	for _, in := range infos {
		out = append(out, TokenInfo{Name: in.Name, ID: in.ID, Created: in.Created.UTC()})
	}
	return out, nil
}

func (d *daemon) adminTokenRevoke(_ context.Context, req json.RawMessage) (any, error) {
	var r TokenRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	err := d.tokens.Store.Revoke(r.Name)
	if errors.Is(err, token.ErrNotFound) || errors.Is(err, token.ErrInvalidName) {
		return nil, admin.Errorf(admin.CodeBadRequest, "%v", err)
	}
	if err != nil {
		return nil, err
	}
	d.log.Info("token revoked", zap.String("name", r.Name))
	return struct{}{}, nil
}

// adminOutboxStatus lists the remote-verification outbox: the verifier's
// view, or the store's when remote verification is off (items left by an
// earlier configuration).
// adminLegitmarkSRList reads the SR journal of the store the daemon holds;
// it works whether or not [remote.legitmark] is configured now.
func (d *daemon) adminLegitmarkSRList(ctx context.Context, _ json.RawMessage) (any, error) {
	es, err := d.store.SRJournal().Entries(ctx)
	if err != nil {
		return nil, err
	}
	out := LegitmarkSRList{Records: legitmark.Fold(es)}
	if out.Records == nil {
		out.Records = []*legitmark.Record{}
	}
	return out, nil
}

func (d *daemon) adminOutboxStatus(context.Context, json.RawMessage) (any, error) {
	if d.verifier != nil {
		return d.verifier.Status(), nil
	}
	items, err := d.store.Outbox()
	if err != nil {
		return nil, err
	}
	out := remoteverify.Status{Count: len(items), Items: []remoteverify.ItemStatus{}}
	for i := range items {
		out.Items = append(out.Items, remoteverify.StatusOf(&items[i], false))
	}
	return out, nil
}

func (d *daemon) adminOutboxRetry(_ context.Context, req json.RawMessage) (any, error) {
	var r OutboxRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	var err error
	if d.verifier != nil {
		err = d.verifier.Retry(r.ID)
	} else {
		err = remoteverify.RetryStored(d.store, r.ID)
	}
	if errors.Is(err, remoteverify.ErrNoItem) {
		return nil, admin.Errorf(admin.CodeBadRequest, "no outbox item %d (nfcd outbox list shows them)", r.ID)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (d *daemon) adminOutboxDrop(_ context.Context, req json.RawMessage) (any, error) {
	var r OutboxRequest
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	var err error
	if d.verifier != nil {
		err = d.verifier.Drop(r.ID)
	} else {
		_, err = remoteverify.DropStored(d.store, r.ID, time.Now())
	}
	if errors.Is(err, remoteverify.ErrNoItem) {
		return nil, admin.Errorf(admin.CodeBadRequest, "no outbox item %d (nfcd outbox list shows them)", r.ID)
	}
	if err != nil {
		return nil, err
	}
	d.log.Info("outbox item dropped", zap.Uint64("id", r.ID))
	return r, nil
}

func (d *daemon) adminMarksRestart(_ context.Context, req json.RawMessage) (any, error) {
	var r MarksRestart
	if err := decode(req, &r); err != nil {
		return nil, err
	}
	uid, err := hex.DecodeString(r.UID)
	if err != nil || len(uid) == 0 {
		return nil, admin.Errorf(admin.CodeBadRequest, "uid: not a hex UID")
	}
	prev, err := d.store.RestartMarks(uid, r.Profile, r.Ctr)
	if errors.Is(err, store.ErrInvalidUID) {
		return nil, admin.Errorf(admin.CodeBadRequest, "uid: %v", err)
	}
	if err != nil {
		return nil, err
	}
	d.log.Info("replay marks restarted for a personalised tag", zap.String("uid", r.UID), zap.String("profile", r.Profile),
		zap.Stringer("previous", prev), zap.Stringer("ctr", r.Ctr))
	return MarksRestarted{Previous: prev}, nil
}
