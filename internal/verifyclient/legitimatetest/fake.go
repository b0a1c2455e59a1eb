// Package legitimatetest is an in-process fake of the Legitimate external
// tag API (/external/v1) for tests and demos. It behaves as
// ../shared/reference/remote-apis.md §1 documents and §3.8 specifies:
// per-tag SDM keys, SUN MAC verification with nfcd's own NTAG 424 code,
// each triple accepted once, the latest verification tracked,
// claim/recover with their flags, owners, transfers, marketing consent —
// and failures on demand (Inject): dropped connections before and after
// the commit, delays, 5xx, 429 with Retry-After, malformed JSON, a wrong
// content type, a slow or truncated body, redirects.
//
// Where the docs are silent the fake picks the documented-looking answer
// and offers a knob (Options) for the other plausible one.
package legitimatetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verifyclient"
)

// BasePath is where the fake serves the API; a client's base URL is the
// server URL plus BasePath.
const BasePath = "/external/v1"

// LegitimateWallet is the address that holds unclaimed digital IDs.
const LegitimateWallet = "0x1e91713e6e2b8a1d4c1f0e8f5b8fa1d7c0ffee01"

// Tag is one tag the fake knows.
type Tag struct {
	UID string // 14 hex digits
	Key ntag424.Key
	// Counter is the highest counter already accepted (0: none); taps
	// minted by Fake.Tap start above it.
	Counter            uint32
	Name               string
	Description        string
	ImageURL           string
	SKUID              int64
	SerialNumber       int64
	NFTChainID         int64
	NFTContractAddress string
	NFTTokenID         int64
	Claimable          bool
	RecoverEnabled     bool
	Owner              string // wallet address; "" when Legitimate holds it
}

// Options are the knobs for undocumented behaviour.
type Options struct {
	// UnknownTagStatus is the verify status for an unknown UID: 422
	// (default) or 404.
	UnknownTagStatus int
	// ArrayErrors writes verify's cmac errors as ["is invalid"] instead of
	// the documented bare string.
	ArrayErrors bool
	// StaleInvalid answers a never-submitted tap whose counter is not above
	// the last accepted one with "is invalid" instead of "has expired".
	StaleInvalid bool
	// StrictCase compares hex case-sensitively (upper-case, as tags mirror).
	StrictCase bool
	// TxErrorStatus is the status of claim/recover errors: 422 (default)
	// or 400.
	TxErrorStatus int
	// VerifyType is the verify_type of verifications recorded by verify
	// (default "user_view").
	VerifyType string
	// APIKeyHeader and APIKey, when both set, make every API request
	// without that header value a 401.
	APIKeyHeader, APIKey string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Fake is the fake service's state and its http.Handler. It is safe for
// concurrent use; one mutex covers all state, so every request's change
// is atomic.
type Fake struct {
	opts Options

	mu     sync.Mutex
	tags   map[string]*tagState // by upper-case UID
	users  map[string]*bool     // e-mail → marketing consent (nil: unset)
	faults []*Fault
	reqs   []Request
	seq    int64
}

type tagState struct {
	Tag
	id      int64
	uid     [ntag424.UIDLen]byte
	profile *ntag424.Profile
	tapCtr  uint32          // the simulated physical tag's counter
	used    map[string]bool // "CTR|CMAC", upper-case
	latest  *verification
	verifs  []verification
	xfers   []transfer
	claims  int
	resets  int
	created time.Time
}

type verification struct {
	id       int64
	ctr      uint32
	ctrHex   string
	cmac     string
	at       time.Time
	verifyTy string
}

type transfer struct {
	id       int64
	typ      string
	sender   string
	receiver string
	at       time.Time
}

// Request is one request the fake received, for assertions.
type Request struct {
	Route  string // "verify", "validate", "latest", "claim", "recover", "verifications", "transfers", "marketing_consent", or "" (unknown)
	Method string
	Path   string
	Header http.Header
	Body   []byte
	Triple verifyclient.Triple // for the triple routes
	Fault  FaultKind           // the fault applied, if any
	// Committed says the request's state change (if any) was applied.
	Committed bool
	// Status is the status written, or 0 when the connection was dropped.
	Status int
	At     time.Time
}

// New returns an empty fake.
func New(opts Options) *Fake {
	if opts.UnknownTagStatus == 0 {
		opts.UnknownTagStatus = http.StatusUnprocessableEntity
	}
	if opts.TxErrorStatus == 0 {
		opts.TxErrorStatus = http.StatusUnprocessableEntity
	}
	if opts.VerifyType == "" {
		opts.VerifyType = "user_view"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Fake{opts: opts, tags: map[string]*tagState{}, users: map[string]*bool{}}
}

// AddTag adds (or replaces) a tag.
func (f *Fake) AddTag(t Tag) error {
	uid, err := hex.DecodeString(t.UID)
	if err != nil || len(uid) != ntag424.UIDLen {
		return fmt.Errorf("legitimatetest: tag uid: want %d hex digits", 2*ntag424.UIDLen)
	}
	p, err := ntag424.NewProfile(ntag424.Layout{Mode: ntag424.ModePlain, Crypto: ntag424.CryptoAES}, ntag424.Keys{FileRead: t.Key})
	if err != nil {
		return fmt.Errorf("legitimatetest: %w", err)
	}
	t.UID = strings.ToUpper(t.UID)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ts := &tagState{Tag: t, id: 48000 + f.seq, profile: p, tapCtr: t.Counter, used: map[string]bool{}, created: f.opts.Now()}
	copy(ts.uid[:], uid)
	f.seq++
	ts.xfers = append(ts.xfers, transfer{id: f.seq, typ: "mint", receiver: LegitimateWallet, at: ts.created})
	if t.Owner != "" {
		f.seq++
		ts.xfers = append(ts.xfers, transfer{id: f.seq, typ: "claim", sender: LegitimateWallet, receiver: t.Owner, at: ts.created})
	}
	f.tags[t.UID] = ts
	return nil
}

// AddUser adds a user account for marketing_consent.
func (f *Fake) AddUser(email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[strings.ToLower(email)] = nil
}

// Consent returns a user's marketing consent: nil if unset or no user.
func (f *Fake) Consent(email string) *bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v := f.users[strings.ToLower(email)]; v != nil {
		b := *v
		return &b
	}
	return nil
}

// Tap presents the tag: its counter goes up by one and the triple it
// mirrors is returned (NT4H2421Gx §9.3 via ntag424.MirrorURL: plain
// mirror, AES, empty MAC input).
func (f *Fake) Tap(uid string) (verifyclient.Triple, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.tags[strings.ToUpper(uid)]
	if ts == nil {
		return verifyclient.Triple{}, fmt.Errorf("legitimatetest: unknown tag %s", uid)
	}
	ts.tapCtr++
	return mint(ts.profile, ts.uid, ts.tapCtr)
}

// Mint returns the triple a tag with key and uid mirrors at counter ctr,
// without touching any state. It is what Tap computes.
func Mint(key ntag424.Key, uid [ntag424.UIDLen]byte, ctr uint32) (verifyclient.Triple, error) {
	p, err := ntag424.NewProfile(ntag424.Layout{Mode: ntag424.ModePlain, Crypto: ntag424.CryptoAES}, ntag424.Keys{FileRead: key})
	if err != nil {
		return verifyclient.Triple{}, err
	}
	return mint(p, uid, ctr)
}

func mint(p *ntag424.Profile, uid [ntag424.UIDLen]byte, ctr uint32) (verifyclient.Triple, error) {
	u, err := p.MirrorURL("https://tap.invalid/", ntag424.TagData{UID: uid, Ctr: ctr}, nil)
	if err != nil {
		return verifyclient.Triple{}, err
	}
	return verifyclient.TripleFromURL(u)
}

// MarkUsed records t as verified by someone else (a phone that tapped the
// tag first), as if it had been sent to verify. It fails unless t is a
// valid, unused triple.
func (f *Fake) MarkUsed(t verifyclient.Triple) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	status, _ := f.verifyLocked(t)
	if status != http.StatusOK {
		return fmt.Errorf("legitimatetest: MarkUsed: verify answered %d", status)
	}
	return nil
}

// Requests returns every request received so far.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.reqs...)
}

// VerifyRequests returns the tags/verify requests that carried t (letter
// case ignored), in order.
func (f *Fake) VerifyRequests(t verifyclient.Triple) []Request {
	var out []Request
	for _, r := range f.Requests() {
		if r.Route == routeVerify && r.Triple.Key() == t.Key() {
			out = append(out, r)
		}
	}
	return out
}

// Accepted reports whether verify accepted t.
func (f *Fake) Accepted(t verifyclient.Triple) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.tags[strings.ToUpper(t.UID)]
	return ts != nil && ts.used[strings.ToUpper(t.Ctr)+"|"+strings.ToUpper(t.CMAC)]
}

// Owner returns the tag's owner wallet ("" when Legitimate holds it).
func (f *Fake) Owner(uid string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ts := f.tags[strings.ToUpper(uid)]; ts != nil {
		return ts.Owner
	}
	return ""
}

// Route names.
const (
	routeVerify        = "verify"
	routeValidate      = "validate"
	routeLatest        = "latest"
	routeClaim         = "claim"
	routeRecover       = "recover"
	routeVerifications = "verifications"
	routeTransfers     = "transfers"
	routeConsent       = "marketing_consent"
)

// jsonBody is a response: a status and a JSON-encodable value.
type jsonBody struct {
	status int
	v      any
}

func errorsBody(status int, field string, msg any) jsonBody {
	return jsonBody{status, map[string]any{"errors": map[string]any{field: msg}}}
}

// cmacError is verify's cmac error in the configured form.
func (f *Fake) cmacError(msg string) jsonBody {
	if f.opts.ArrayErrors {
		return errorsBody(http.StatusUnprocessableEntity, "cmac", []string{msg})
	}
	return errorsBody(http.StatusUnprocessableEntity, "cmac", msg)
}

// parseTriple decodes a triple route's body; a missing field is Rails'
// "can't be blank" (a fake-only assumption, remote-apis.md §3.8 rule 1).
func parseTriple(body []byte, extra ...string) (verifyclient.Triple, map[string]string, *jsonBody) {
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		jb := errorsBody(http.StatusUnprocessableEntity, "uid", []string{"can't be blank"})
		return verifyclient.Triple{}, nil, &jb
	}
	get := func(k string) string { s, _ := raw[k].(string); return s }
	t := verifyclient.Triple{UID: get("uid"), Ctr: get("ctr"), CMAC: get("cmac"), Tamper: get("tamper")}
	for _, k := range []string{"uid", "ctr", "cmac"} {
		if get(k) == "" {
			jb := errorsBody(http.StatusUnprocessableEntity, k, []string{"can't be blank"})
			return t, nil, &jb
		}
	}
	ex := map[string]string{}
	for _, k := range extra {
		ex[k] = get(k)
	}
	return t, ex, nil
}

// lookup finds the triple's tag.
func (f *Fake) lookup(uid string) *tagState {
	if f.opts.StrictCase {
		return f.tags[uid]
	}
	return f.tags[strings.ToUpper(uid)]
}

// checkMAC verifies the triple's SUN MAC under the tag's key with
// ntag424 (remote-apis.md §1.9) and returns its counter.
func (f *Fake) checkMAC(ts *tagState, t verifyclient.Triple) (uint32, bool) {
	uid, ctr, cmac := t.UID, t.Ctr, t.CMAC
	if !f.opts.StrictCase {
		uid, ctr, cmac = strings.ToUpper(uid), strings.ToUpper(ctr), strings.ToUpper(cmac)
	}
	if len(uid) != 14 || len(ctr) != 6 || len(cmac) != 16 || !isHex(uid+ctr+cmac) {
		return 0, false
	}
	r, err := ts.profile.Verify("https://tap.invalid/?uid=" + uid + "&ctr=" + ctr + "&cmac=" + cmac)
	if err != nil || r.UID != ts.uid || !r.Ctr.Valid {
		return 0, false
	}
	return r.Ctr.Value, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func usedKey(t verifyclient.Triple) string {
	return strings.ToUpper(t.Ctr) + "|" + strings.ToUpper(t.CMAC)
}

// isLatest reports whether t is the tag's latest verification.
func (ts *tagState) isLatest(t verifyclient.Triple) bool {
	return ts.latest != nil && strings.EqualFold(ts.latest.ctrHex, t.Ctr) && strings.EqualFold(ts.latest.cmac, t.CMAC)
}

// verifyLocked applies remote-apis.md §3.8's verify rules in order.
func (f *Fake) verifyLocked(t verifyclient.Triple) (int, jsonBody) {
	ts := f.lookup(t.UID)
	if ts == nil {
		return f.opts.UnknownTagStatus, errorsBody(f.opts.UnknownTagStatus, "tag", []string{"could not be found"})
	}
	ctr, ok := f.checkMAC(ts, t)
	if !ok {
		return 422, f.cmacError("is invalid")
	}
	if ts.used[usedKey(t)] {
		return 422, f.cmacError("has expired")
	}
	if ts.Counter > 0 && ctr <= ts.Counter {
		if f.opts.StaleInvalid {
			return 422, f.cmacError("is invalid")
		}
		return 422, f.cmacError("has expired")
	}
	ts.Counter = ctr
	ts.used[usedKey(t)] = true
	f.seq++
	v := verification{id: f.seq, ctr: ctr, ctrHex: t.Ctr, cmac: strings.ToUpper(t.CMAC), at: f.opts.Now(), verifyTy: f.opts.VerifyType}
	ts.verifs = append(ts.verifs, v)
	ts.latest = &v
	body := map[string]any{
		"uid":                  ts.UID,
		"verified":             true,
		"nft_chain_id":         ts.NFTChainID,
		"nft_contract_address": ts.NFTContractAddress,
		"nft_token_id":         ts.NFTTokenID,
		"name":                 ts.Name,
		"description":          ts.Description,
		"image_url":            ts.ImageURL,
		"animation_url":        nil,
		"sku_id":               ts.SKUID,
		"serial_number":        ts.SerialNumber,
	}
	return 200, jsonBody{200, body}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func pageContent() map[string]any {
	return map[string]any{"type": nil, "version": nil, "data": nil, "options": map[string]any{}}
}

// tagObject is the full tag object of cmac/validate and cmac/latest.
func (ts *tagState) tagObject() map[string]any {
	views := 0
	for _, v := range ts.verifs {
		if v.verifyTy == "user_view" {
			views++
		}
	}
	updated := ts.created
	if ts.latest != nil {
		updated = ts.latest.at
	}
	return map[string]any{
		"uid": ts.UID, "tamper": nil, "counter": ts.Counter,
		"created_at": stamp(ts.created), "updated_at": stamp(updated),
		"name": ts.Name, "description": ts.Description, "image_url": ts.ImageURL,
		"animation_url": nil, "notes": nil, "redirect_url": nil, "template_id": 1,
		"page_content": pageContent(), "shareable": false,
		"nft_chain_id": ts.NFTChainID, "nft_contract_address": ts.NFTContractAddress, "nft_token_id": ts.NFTTokenID,
		"contract_version": 3, "verifications": len(ts.verifs), "external_verifications": len(ts.verifs),
		"qc": true, "tamper_enabled": false, "login_type": 1, "header_logo_url": nil,
		"builder_io_api_key": nil, "builder_io_url": nil, "tag_view_verifications_count": views,
		"owner_address": nullable(ts.Owner), "email_marketing_consent": nil,
		"claim_count": ts.claims, "reset_count": ts.resets, "page_type": "default",
		"total_tags_count": 1, "serial_number": ts.SerialNumber, "owner_email": nil,
	}
}

// validateLocked: never changes state; 422 for a bad MAC or an outdated
// counter.
func (f *Fake) validateLocked(t verifyclient.Triple) jsonBody {
	ts := f.lookup(t.UID)
	if ts == nil {
		return errorsBody(404, "tag", []string{"could not be found"})
	}
	ctr, ok := f.checkMAC(ts, t)
	if !ok || ctr < ts.Counter {
		return errorsBody(422, "cmac", []string{"is invalid or outdated"})
	}
	return jsonBody{200, map[string]any{"cmac_verified": true, "page_content": pageContent(), "tag": ts.tagObject()}}
}

// latestLocked: never changes state; 200 iff t is the latest verification.
func (f *Fake) latestLocked(t verifyclient.Triple) jsonBody {
	ts := f.lookup(t.UID)
	if ts == nil {
		return errorsBody(404, "tag", []string{"could not be found"})
	}
	if _, ok := f.checkMAC(ts, t); !ok || !ts.isLatest(t) {
		return errorsBody(422, "cmac", []string{"is invalid or outdated"})
	}
	v := ts.latest
	return jsonBody{200, map[string]any{
		"cmac_verified": true, "page_content": pageContent(), "tag": ts.tagObject(),
		"verification": map[string]any{"id": v.id, "tag_id": ts.id, "cmac": v.cmac, "created_at": stamp(v.at), "updated_at": stamp(v.at)},
	}}
}

func (f *Fake) txError(msg string) jsonBody {
	return jsonBody{f.opts.TxErrorStatus, map[string]any{"error": msg}}
}

func (f *Fake) txHash(parts ...string) string {
	f.seq++
	sum := sha256.Sum256([]byte(strings.Join(parts, "|") + "|" + strconv.FormatInt(f.seq, 10)))
	return "0x" + hex.EncodeToString(sum[:])
}

func validWallet(a string) bool {
	return len(a) == 42 && (a[:2] == "0x" || a[:2] == "0X") && isHex(a[2:])
}

// claimLocked: the triple must be the latest verification, the tag
// claimable and still held by Legitimate.
func (f *Fake) claimLocked(t verifyclient.Triple, wallet string) (jsonBody, bool) {
	ts := f.lookup(t.UID)
	switch {
	case ts == nil:
		return f.txError("Unauthorized"), false
	case !validWallet(wallet):
		return errorsBody(422, "walletAddress", []string{"is not a valid address"}), false
	case !ts.Claimable:
		return f.txError("This tag has not been enabled for claiming."), false
	case !ts.isLatest(t):
		return f.txError("Session expired. Please tap the Legitimate Tag and try again."), false
	case ts.Owner != "":
		return f.txError("This NFT has already been claimed and is no longer held by Legitimate."), false
	}
	ts.Owner = wallet
	ts.claims++
	f.seq++
	ts.xfers = append(ts.xfers, transfer{id: f.seq, typ: "claim", sender: LegitimateWallet, receiver: wallet, at: f.opts.Now()})
	return jsonBody{200, map[string]any{"hash": f.txHash("claim", ts.UID, t.Ctr, wallet)}}, true
}

// recoverLocked: the triple must be the latest verification and recovery
// enabled; the digital ID goes back to Legitimate.
func (f *Fake) recoverLocked(t verifyclient.Triple) (jsonBody, bool) {
	ts := f.lookup(t.UID)
	switch {
	case ts == nil || !ts.isLatest(t):
		return f.txError("Unauthorized"), false
	case !ts.RecoverEnabled:
		return f.txError(fmt.Sprintf("Ownership reset has not been enabled for contract %s by %s.", ts.NFTContractAddress, LegitimateWallet)), false
	case ts.Owner == "":
		return f.txError("Transaction failed with message: token is already held by Legitimate"), false
	}
	f.seq++
	ts.xfers = append(ts.xfers, transfer{id: f.seq, typ: "recover", sender: ts.Owner, at: f.opts.Now()})
	ts.Owner = ""
	ts.resets++
	return jsonBody{200, map[string]any{"hash": f.txHash("recover", ts.UID, t.Ctr)}}, true
}

// verificationsLocked lists successful verifications, oldest first, in
// 1-based pages (an assumption) of at most 1000.
func (f *Fake) verificationsLocked(uid string, q url.Values) jsonBody {
	ts := f.lookup(uid)
	if ts == nil {
		return jsonBody{404, map[string]any{"error": map[string]any{"tag": []string{"could not be found"}}}}
	}
	page, limit := 1, 100
	for k, dst := range map[string]*int{"page": &page, "limit": &limit} {
		if s := q.Get(k); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return jsonBody{400, map[string]any{"error": k + " is invalid"}}
			}
			*dst = n
		}
	}
	limit = min(limit, 1000)
	list := []any{}
	start := (page - 1) * limit
	for i := start; i < len(ts.verifs) && i < start+limit && start >= 0; i++ {
		v := ts.verifs[i]
		list = append(list, map[string]any{
			"created_at": v.at.UTC().Format("2006-01-02T15:04:05-07:00"), "verify_type": v.verifyTy,
			"custom_verification_type": nil, "uid": ts.UID, "tamper": false, "counter": v.ctr,
			"city": "Aobadai", "region": "Tokyo", "country": "Japan", "latitude": 35.6509, "longitude": 139.6943,
		})
	}
	return jsonBody{200, map[string]any{"verifications": list}}
}

// transfersLocked implements the 406 parameter rules of §1.3 #7; no
// parameters at all lists every transfer.
func (f *Fake) transfersLocked(uid string, q url.Values) jsonBody {
	ts := f.lookup(uid)
	if ts == nil {
		return errorsBody(404, "tag", []string{"could not be found"})
	}
	bad := jsonBody{406, map[string]any{"error": "Invalid or unexpected parameters"}}
	for k, v := range q {
		if (k != "type" && k != "sender" && k != "receiver") || len(v) != 1 {
			return bad
		}
	}
	typ, sender, receiver := q.Get("type"), q.Get("sender"), q.Get("receiver")
	_, hasS := q["sender"]
	_, hasR := q["receiver"]
	switch typ {
	case "":
		if len(q) > 0 {
			return bad
		}
	case "mint", "claim":
		if hasS || !hasR {
			return bad
		}
	case "recover":
		if hasR || !hasS {
			return bad
		}
	default:
		return bad
	}
	list := []any{}
	for _, x := range ts.xfers {
		if typ != "" && (x.typ != typ || (hasS && !strings.EqualFold(x.sender, sender)) || (hasR && !strings.EqualFold(x.receiver, receiver))) {
			continue
		}
		list = append(list, map[string]any{
			"id": x.id, "tag_uid": ts.UID, "nft_token_id": ts.NFTTokenID,
			"sender_address": nullable(x.sender), "receiver_address": nullable(x.receiver),
			"transfer_type": x.typ, "created_at": stamp(x.at), "sender_email": nil, "receiver_email": nil,
		})
	}
	return jsonBody{200, map[string]any{"transfers": list}}
}

// consentLocked sets marketing consent for a known e-mail.
func (f *Fake) consentLocked(q url.Values) (jsonBody, bool) {
	email, sub := q.Get("email"), q.Get("subscribe")
	if email == "" {
		return errorsBody(422, "email", []string{"can't be blank"}), false
	}
	if sub != "true" && sub != "false" {
		return errorsBody(422, "subscribe", []string{"is not included in the list"}), false
	}
	k := strings.ToLower(email)
	if _, ok := f.users[k]; !ok {
		return jsonBody{404, map[string]any{"error": "No user found with the given email"}}, false
	}
	b := sub == "true"
	f.users[k] = &b
	word := "unsubscribed"
	if b {
		word = "subscribed"
	}
	return jsonBody{200, map[string]any{"message": map[string]any{"email_marketing_consent": email + " " + word}}}, true
}

// readBody reads at most 64 KiB.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 64<<10 {
		return nil, errors.New("body too large")
	}
	return b, nil
}
