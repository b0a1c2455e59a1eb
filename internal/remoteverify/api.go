package remoteverify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
	"github.com/nfcd/nfcd/internal/ws"
)

// WebSocket request types (docs/protocol.md §5).
const (
	TypeOutboxStatus  = "outbox.status"
	TypeOutboxRetry   = "outbox.retry"
	TypeOutboxDrop    = "outbox.drop"
	TypeVerifications = "legitimate.verifications"
	TypeTransfers     = "legitimate.transfers"
	TypeLatest        = "legitimate.latest"
	TypeConsent       = "legitimate.consent"
	TypeClaim         = "legitimate.claim"
	TypeRecover       = "legitimate.recover"
)

// Error codes of the requests above, each with a fixed message (Message).
const (
	CodeRemoteDisabled    ws.Code = "remote_disabled"    // no [remote.legitimate] section, or local-only
	CodeNoItem            ws.Code = "no_item"            // no outbox item with that id
	CodeNoRecentTap       ws.Code = "no_recent_tap"      // this daemon read no tap of that UID within the claim window
	CodeNotVerified       ws.Code = "not_verified"       // the latest tap of the UID was not verified by the service
	CodeAlreadyAttempted  ws.Code = "already_attempted"  // a claim or recover was already sent with that tap
	CodeTagNotFound       ws.Code = "tag_not_found"      // the service does not know the tag
	CodeNotClaimable      ws.Code = "not_claimable"      // the tag is not enabled for claiming
	CodeAlreadyClaimed    ws.Code = "already_claimed"    // the digital ID is no longer held by Legitimate
	CodeSessionExpired    ws.Code = "session_expired"    // the tap is no longer the latest verification
	CodeRecoverDisabled   ws.Code = "recover_disabled"   // ownership reset is not enabled
	CodeTransactionFailed ws.Code = "transaction_failed" // the on-chain transaction failed
	CodeNoUser            ws.Code = "no_user"            // marketing_consent: no user with that e-mail
	CodeRemoteUnavailable ws.Code = "remote_unavailable" // the service could not be reached, refused for load, or timed out
	CodeOutcomeUnknown    ws.Code = "outcome_unknown"    // a claim or recover may have been processed; its answer was lost
	CodeRemoteRefused     ws.Code = "remote_refused"     // the service refused the request (unauthorized, parameters)
	CodeRemoteError       ws.Code = "remote_error"       // the service failed or answered something undocumented
)

var messages = map[ws.Code]string{
	CodeRemoteDisabled:    "remote verification is not configured",
	CodeNoItem:            "no outbox item with that id",
	CodeNoRecentTap:       "no recent tap of that tag on this daemon; tap it again",
	CodeNotVerified:       "the latest tap of that tag was not verified by the service",
	CodeAlreadyAttempted:  "this tap was already used for that request; tap the tag again",
	CodeTagNotFound:       "the service does not know that tag",
	CodeNotClaimable:      "the tag is not enabled for claiming",
	CodeAlreadyClaimed:    "the digital ID was already claimed",
	CodeSessionExpired:    "the tap is no longer the latest verification; tap the tag again",
	CodeRecoverDisabled:   "ownership reset is not enabled for this tag",
	CodeTransactionFailed: "the transaction failed",
	CodeNoUser:            "no user with that e-mail address",
	CodeRemoteUnavailable: "the remote service is unavailable; try again later",
	CodeOutcomeUnknown:    "the request may have been processed; check legitimate.transfers before trying again",
	CodeRemoteRefused:     "the remote service refused the request",
	CodeRemoteError:       "the remote service failed",
}

// Message is the fixed text sent with c.
func Message(c ws.Code) string { return messages[c] }

func wsErr(c ws.Code) *ws.Error { return &ws.Error{Code: c, Message: messages[c]} }

// latestTap is this daemon's latest tap of one UID: the only triple an
// operator request may use.
type latestTap struct {
	tap    string
	triple verifyclient.Triple
	at     time.Time
	// answer is the remote state of the tap (remote.Answer values).
	answer string
	// claimed, recovered: a claim or recover was sent with this tap.
	claimed, recovered bool
}

// maxLatest bounds the latest-tap map; beyond it, taps older than the
// claim window are forgotten.
const maxLatest = 4096

// noteTap makes vd the latest tap of its triple's UID. v.mu is held.
func (v *Verifier) noteTap(vd *verdict.Verdict, t verifyclient.Triple, now time.Time) {
	if len(v.latest) >= maxLatest {
		for k, lt := range v.latest {
			if now.Sub(lt.at) > v.cfg.Legitimate.ClaimWindow.Duration {
				delete(v.latest, k)
			}
		}
	}
	v.latest[strings.ToUpper(t.UID)] = &latestTap{tap: vd.Tap, triple: t, at: now, answer: string(remote.None)}
}

func (v *Verifier) setLatest(uid, tap, answer string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.setLatestLocked(uid, tap, answer)
}

// setLatestLocked records the remote answer of tap if it is still the
// latest of uid. v.mu is held.
func (v *Verifier) setLatestLocked(uid, tap, answer string) {
	if lt := v.latest[strings.ToUpper(uid)]; lt != nil && lt.tap == tap {
		lt.answer = answer
	}
}

// tapFor returns the triple of the latest tap of uid for an operator
// request. With verified set, the tap must have been verified by the
// service; with mark set (claim, recover), the request must not have been
// sent with it before, and it is marked as sent.
func (v *Verifier) tapFor(uid string, verified bool, mark func(*latestTap) *bool) (verifyclient.Triple, string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	lt := v.latest[strings.ToUpper(uid)]
	if lt == nil || v.cfg.Now().Sub(lt.at) > v.cfg.Legitimate.ClaimWindow.Duration {
		return verifyclient.Triple{}, "", wsErr(CodeNoRecentTap)
	}
	if verified && lt.answer != string(remote.Authentic) {
		return verifyclient.Triple{}, "", wsErr(CodeNotVerified)
	}
	if mark != nil {
		p := mark(lt)
		if *p {
			return verifyclient.Triple{}, "", wsErr(CodeAlreadyAttempted)
		}
		*p = true
	}
	return lt.triple, lt.tap, nil
}

// ItemStatus is an outbox item as outbox.status and `nfcd outbox list`
// show it: never the CMAC.
type ItemStatus struct {
	ID          uint64     `json:"id"`
	Tap         string     `json:"tap"`
	Reader      string     `json:"reader"`
	UID         string     `json:"uid"`
	Ctr         *uint32    `json:"ctr"`
	State       string     `json:"state"`
	InFlight    bool       `json:"in_flight"`
	Attempts    int        `json:"attempts"`
	Verdict     string     `json:"verdict"`
	Created     time.Time  `json:"created"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
}

// StatusOf describes a stored item. An "attempting" item is shown as what
// a restart makes of it, ambiguous, unless it is in flight.
func StatusOf(it *store.OutboxItem, inFlight bool) ItemStatus {
	s := ItemStatus{ID: it.ID, Tap: it.Tap, Reader: it.Verdict.Reader, UID: it.UID, State: it.State, InFlight: inFlight,
		Attempts: it.Attempts, Verdict: it.Verdict.Verdict, Created: it.Created.UTC(), LastError: it.LastError}
	if n, err := strconv.ParseUint(it.Ctr, 16, 32); err == nil {
		c := uint32(n)
		s.Ctr = &c
	}
	if s.State == store.OutboxAttempting && !inFlight {
		s.State = store.OutboxAmbiguous
	}
	if !it.NextAt.IsZero() {
		t := it.NextAt.UTC()
		s.NextAttempt = &t
	}
	return s
}

// Status is the result of outbox.status.
type Status struct {
	// Enabled says a verifier works on the outbox; without one the items
	// wait for the next run with [remote.legitimate] configured.
	Enabled  bool         `json:"enabled"`
	Mode     string       `json:"mode,omitempty"`
	MaxItems int          `json:"max_items,omitempty"`
	MaxAge   string       `json:"max_age,omitempty"`
	Count    int          `json:"count"`
	Items    []ItemStatus `json:"items"`
}

// maxStatusItems bounds the items one outbox.status lists (the oldest).
const maxStatusItems = 1000

// Status describes the outbox.
func (v *Verifier) Status() Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	l := v.cfg.Legitimate
	st := Status{Enabled: true, Mode: string(v.mode), MaxItems: l.OutboxMaxItems, MaxAge: l.OutboxMaxAge.String(), Count: len(v.order),
		Items: []ItemStatus{}}
	for _, id := range v.order {
		if len(st.Items) == maxStatusItems {
			break
		}
		e := v.items[id]
		st.Items = append(st.Items, StatusOf(&e.it, e.inflight))
	}
	return st
}

// ErrNoItem is returned for an outbox item ID that is not queued.
var ErrNoItem = errors.New("remoteverify: no such outbox item")

// Retry makes item id due now (an unreachable or ambiguous item waiting
// for its next attempt).
func (v *Verifier) Retry(id uint64) error {
	v.mu.Lock()
	e := v.items[id]
	if e == nil {
		v.mu.Unlock()
		return ErrNoItem
	}
	e.it.NextAt = time.Time{}
	if e.it.State == store.OutboxUnreachable {
		v.pauseUntil = time.Time{}
	}
	v.mu.Unlock()
	v.poke()
	return nil
}

// Drop gives up item id: its tap settles unverified (remote_unreachable),
// published like any other settlement.
func (v *Verifier) Drop(id uint64) error {
	v.mu.Lock()
	e := v.items[id]
	v.mu.Unlock()
	if e == nil {
		return ErrNoItem
	}
	v.finish(e, remote.GaveUp, dropDetail)
	return nil
}

const dropDetail = "remote: dropped by the operator"

// Store is what the commands need of the store when no daemon runs.
type Store interface {
	Outbox
	OutboxItemByID(id uint64) (store.OutboxItem, bool, error)
}

// RetryStored makes item id of a store no daemon works on due at the
// daemon's next start.
func RetryStored(st Store, id uint64) error {
	it, ok, err := st.OutboxItemByID(id)
	switch {
	case err != nil:
		return err
	case !ok:
		return ErrNoItem
	}
	it.NextAt = time.Time{}
	if err := st.PutOutbox(&it); errors.Is(err, store.ErrOutboxGone) {
		return ErrNoItem
	} else if err != nil {
		return err
	}
	return nil
}

// DropStored gives up item id of a store no daemon works on: its final
// verdict (unverified) goes to the audit log; no client hears of it.
func DropStored(st Store, id uint64, now time.Time) (verdict.Verdict, error) {
	it, ok, err := st.OutboxItemByID(id)
	switch {
	case err != nil:
		return verdict.Verdict{}, err
	case !ok:
		return verdict.Verdict{}, ErrNoItem
	}
	fv := finalVerdict(&it, remote.GaveUp, dropDetail, now)
	settled, err := st.SettleOutbox(id, auditEntry(&fv))
	switch {
	case err != nil:
		return verdict.Verdict{}, err
	case !settled:
		return verdict.Verdict{}, ErrNoItem
	}
	return fv, nil
}

// Register registers the requests of this package on s. v is nil when
// remote verification is off: the legitimate.* requests then answer
// remote_disabled, and the outbox requests work on st directly (items
// left by an earlier configuration can be listed and dropped).
func Register(s *ws.Server, v *Verifier, st Store) {
	s.Handle(TypeOutboxStatus, func(ctx context.Context, r *ws.Request) (any, error) {
		if err := decode(r, &struct{}{}); err != nil {
			return nil, err
		}
		if v != nil {
			return v.Status(), nil
		}
		items, err := st.Outbox()
		if err != nil {
			return nil, err
		}
		out := Status{Count: len(items), Items: []ItemStatus{}}
		for i := range items {
			if i == maxStatusItems {
				break
			}
			out.Items = append(out.Items, StatusOf(&items[i], false))
		}
		return out, nil
	}, ws.HandlerOptions{MaxConcurrent: 2})
	type idReq struct {
		ID uint64 `json:"id"`
	}
	s.Handle(TypeOutboxRetry, func(ctx context.Context, r *ws.Request) (any, error) {
		var q idReq
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		if v == nil {
			return nil, wsErr(CodeRemoteDisabled)
		}
		if err := v.Retry(q.ID); err != nil {
			return nil, wsErr(CodeNoItem)
		}
		return struct {
			ID uint64 `json:"id"`
		}{q.ID}, nil
	}, ws.HandlerOptions{})
	s.Handle(TypeOutboxDrop, func(ctx context.Context, r *ws.Request) (any, error) {
		var q idReq
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		var err error
		if v != nil {
			err = v.Drop(q.ID)
		} else {
			_, err = DropStored(st, q.ID, time.Now())
		}
		switch {
		case errors.Is(err, ErrNoItem):
			return nil, wsErr(CodeNoItem)
		case err != nil:
			return nil, err
		}
		return struct {
			ID uint64 `json:"id"`
		}{q.ID}, nil
	}, ws.HandlerOptions{})

	handleRemote(s, TypeVerifications, v, func(ctx context.Context, v *Verifier, q *struct {
		UID   string `json:"uid"`
		Page  int    `json:"page"`
		Limit int    `json:"limit"`
		Type  string `json:"type"`
	}) (any, error) {
		res, err := v.cfg.Client.Verifications(ctx, q.UID, verifyclient.VerificationsQuery{Page: q.Page, Limit: q.Limit, Type: q.Type})
		if err != nil {
			return nil, clientError(err)
		}
		if res.Verifications == nil {
			res.Verifications = []verifyclient.Verification{}
		}
		return res, nil
	})
	handleRemote(s, TypeTransfers, v, func(ctx context.Context, v *Verifier, q *struct {
		UID      string `json:"uid"`
		Type     string `json:"type"`
		Sender   string `json:"sender"`
		Receiver string `json:"receiver"`
	}) (any, error) {
		res, err := v.cfg.Client.Transfers(ctx, q.UID, verifyclient.TransferQuery{Type: q.Type, Sender: q.Sender, Receiver: q.Receiver})
		if err != nil {
			return nil, clientError(err)
		}
		if res.Transfers == nil {
			res.Transfers = []verifyclient.Transfer{}
		}
		return res, nil
	})
	handleRemote(s, TypeLatest, v, func(ctx context.Context, v *Verifier, q *struct {
		UID string `json:"uid"`
	}) (any, error) {
		return v.Latest(ctx, q.UID)
	})
	handleRemote(s, TypeConsent, v, func(ctx context.Context, v *Verifier, q *consentRequest) (any, error) {
		res, err := v.cfg.Client.MarketingConsent(ctx, q.Email, *q.Subscribe)
		if err != nil {
			return nil, clientError(err)
		}
		return res, nil
	})
	handleRemote(s, TypeClaim, v, func(ctx context.Context, v *Verifier, q *struct {
		UID    string `json:"uid"`
		Wallet string `json:"wallet"`
	}) (any, error) {
		return v.Claim(ctx, q.UID, q.Wallet)
	})
	handleRemote(s, TypeRecover, v, func(ctx context.Context, v *Verifier, q *struct {
		UID string `json:"uid"`
	}) (any, error) {
		return v.Recover(ctx, q.UID)
	})
}

// remoteOpts bounds the legitimate.* requests, which wait for the service.
var remoteOpts = ws.HandlerOptions{MaxConcurrent: 2, Timeout: 30 * time.Second}

// handleRemote registers a legitimate.* request on s: its payload is
// decoded strictly into a Q and checked (when Q has a check method), then
// answered remote_disabled without a verifier, else by do.
func handleRemote[Q any](s *ws.Server, typ string, v *Verifier, do func(ctx context.Context, v *Verifier, q *Q) (any, error)) {
	s.Handle(typ, func(ctx context.Context, r *ws.Request) (any, error) {
		var q Q
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		if c, ok := any(&q).(interface{ check() error }); ok {
			if err := c.check(); err != nil {
				return nil, err
			}
		}
		if v == nil {
			return nil, wsErr(CodeRemoteDisabled)
		}
		return do(ctx, v, &q)
	}, remoteOpts)
}

// consentRequest is the payload of legitimate.consent.
type consentRequest struct {
	Email     string `json:"email"`
	Subscribe *bool  `json:"subscribe"`
}

func (q *consentRequest) check() error {
	if q.Subscribe == nil {
		return &ws.Error{Code: ws.CodeBadRequest, Message: "subscribe is required"}
	}
	return nil
}

// decode decodes a request payload strictly.
func decode(r *ws.Request, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(r.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return &ws.Error{Code: ws.CodeBadRequest, Message: "invalid " + r.Type + " payload"}
	}
	return nil
}

// LatestResult is the result of legitimate.latest.
type LatestResult struct {
	// Tap is the daemon's tap whose triple was checked.
	Tap string `json:"tap"`
	// Latest says the service has that triple as the tag's latest
	// verification.
	Latest       bool                             `json:"latest"`
	Verification *verifyclient.LatestVerification `json:"verification,omitempty"`
	Tag          *verifyclient.TagInfo            `json:"tag,omitempty"`
}

// Latest asks the service whether the daemon's latest tap of uid (within
// the claim window) is the tag's latest verification (cmac/latest,
// read-only).
func (v *Verifier) Latest(ctx context.Context, uid string) (LatestResult, error) {
	t, tap, err := v.tapFor(uid, false, nil)
	if err != nil {
		return LatestResult{}, err
	}
	res, err := v.cfg.Client.Latest(ctx, t)
	switch {
	case errors.Is(err, verifyclient.ErrNotLatest):
		return LatestResult{Tap: tap}, nil
	case err != nil:
		return LatestResult{}, clientError(err)
	}
	return LatestResult{Tap: tap, Latest: res.CMACVerified, Verification: res.Verification, Tag: res.Tag}, nil
}

// TxResult is the result of legitimate.claim and legitimate.recover.
type TxResult struct {
	Tap  string `json:"tap"`
	Hash string `json:"hash"`
}

// Claim transfers the digital ID of tag uid to wallet, with the triple of
// the daemon's latest tap of uid. The tap must be within the claim
// window and verified by the service; each tap is used for one claim at
// most, and a claim is never sent again automatically.
func (v *Verifier) Claim(ctx context.Context, uid, wallet string) (TxResult, error) {
	if !isWallet(wallet) {
		return TxResult{}, &ws.Error{Code: ws.CodeBadRequest, Message: "invalid wallet"}
	}
	t, tap, err := v.tapFor(uid, true, func(lt *latestTap) *bool { return &lt.claimed })
	if err != nil {
		return TxResult{}, err
	}
	res, err := v.cfg.Client.Claim(ctx, t, wallet)
	if err != nil {
		v.log.Warn("claim failed", zap.String("tap", tap), zap.String("error", errorCode(err)))
		return TxResult{}, clientError(err)
	}
	return TxResult{Tap: tap, Hash: res.Hash}, nil
}

// Recover resets the digital ID of tag uid to Legitimate, under the rules
// of Claim.
func (v *Verifier) Recover(ctx context.Context, uid string) (TxResult, error) {
	t, tap, err := v.tapFor(uid, true, func(lt *latestTap) *bool { return &lt.recovered })
	if err != nil {
		return TxResult{}, err
	}
	res, err := v.cfg.Client.Recover(ctx, t)
	if err != nil {
		return TxResult{}, clientError(err)
	}
	return TxResult{Tap: tap, Hash: res.Hash}, nil
}

func isWallet(a string) bool {
	if len(a) != 42 || (a[:2] != "0x" && a[:2] != "0X") {
		return false
	}
	for i := 2; i < len(a); i++ {
		c := a[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// clientError maps a client error to what the client of the daemon is
// told: a code and its fixed message.
func clientError(err error) error {
	var fe *verifyclient.FormatError
	switch {
	case errors.As(err, &fe):
		return &ws.Error{Code: ws.CodeBadRequest, Message: "invalid " + fieldName(fe.Field)}
	case errors.Is(err, verifyclient.ErrTagNotFound):
		return wsErr(CodeTagNotFound)
	case errors.Is(err, verifyclient.ErrNotClaimable):
		return wsErr(CodeNotClaimable)
	case errors.Is(err, verifyclient.ErrAlreadyClaimed):
		return wsErr(CodeAlreadyClaimed)
	case errors.Is(err, verifyclient.ErrSessionExpired), errors.Is(err, verifyclient.ErrNotLatest):
		return wsErr(CodeSessionExpired)
	case errors.Is(err, verifyclient.ErrRecoverDisabled):
		return wsErr(CodeRecoverDisabled)
	case errors.Is(err, verifyclient.ErrTransactionFailed):
		return wsErr(CodeTransactionFailed)
	case errors.Is(err, verifyclient.ErrNoUser):
		return wsErr(CodeNoUser)
	case errors.Is(err, verifyclient.ErrUnauthorized), errors.Is(err, verifyclient.ErrBadParams):
		return wsErr(CodeRemoteRefused)
	case errors.Is(err, verifyclient.ErrAmbiguous):
		var te *verifyclient.TransportError
		if errors.As(err, &te) && (te.Op == "claim" || te.Op == "recover") {
			return wsErr(CodeOutcomeUnknown)
		}
		return wsErr(CodeRemoteUnavailable)
	case errors.Is(err, verifyclient.ErrNotSent), errors.Is(err, verifyclient.ErrRateLimited),
		errors.Is(err, verifyclient.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return wsErr(CodeRemoteUnavailable)
	}
	var ae *verifyclient.APIError
	if errors.As(err, &ae) {
		return wsErr(CodeRemoteError)
	}
	return fmt.Errorf("remoteverify: %w", err)
}

// fieldName keeps the message's field to the fixed set of request
// fields.
func fieldName(f string) string {
	switch f {
	case "uid", "ctr", "cmac", "walletAddress", "receiver", "sender", "type", "limit", "email":
		return f
	}
	return "parameter"
}
