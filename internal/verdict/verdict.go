// Package verdict signs tag verdicts so that a point-of-sale backend can
// check that a tag.read event really came from this daemon.
//
// The signature is Ed25519 over a canonical encoding of the verdict fields
// and the signing key's ID (see Canonical). The encoding is chosen so that
// a browser or Node.js reproduces it byte for byte with JSON.stringify of an
// object literal written in the fixed key order: no canonicalisation
// library is needed on the verifying side. docs/signed-verdicts.md
// describes the wire form and has Go and WebCrypto verification snippets.
package verdict

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// Canonical encoding versions, the "v" member of the signed bytes. A change
// to the encoding gets a new version, and the daemon keeps signing the old
// ones beside it, so that verifiers written for an older version keep
// working.
const (
	// Version is version 1: reader, uid, ctr, url, verdict, reason, time.
	// Every tag.read carries it as "signature".
	Version = 1
	// Version2 adds tap, profile, tt_status, originality, remote and fleet.
	// The daemon sends it as "signature_v2" on tag.read and as "signature"
	// on verdict.updated.
	Version2 = 2
)

// States of a verdict's remote and fleet checks when none is configured.
const (
	RemoteOff = "off"
	FleetOff  = "off"
)

// Alg names the signature algorithm in the wire form's "signature" object.
const Alg = "Ed25519"

// TimeLayout formats Verdict.Time: RFC 3339 in UTC with exactly three
// fractional digits, e.g. "2026-12-01T10:00:00.123Z". It is the shape of
// JavaScript's Date.prototype.toISOString for years 0000–9999.
const TimeLayout = "2006-01-02T15:04:05.000Z"

var (
	// ErrBadSignature is returned by Verify and Payload.Open when the
	// signature does not verify, or is not 64 bytes of unpadded base64url.
	// It never says which field or byte differed.
	ErrBadSignature = errors.New("verdict: bad signature")

	// ErrBadKey is returned for a public key that is not 32 bytes.
	ErrBadKey = errors.New("verdict: public key is not 32 bytes")

	// ErrMalformed is returned by Payload.Open for a payload whose
	// algorithm or time is not in the form the daemon sends.
	ErrMalformed = errors.New("verdict: malformed signed payload")
)

// Verdict is what the daemon concluded about one tag read, the payload of a
// tag.read event: its signed members and the details beside them. Stream metadata (seq, stream) is deliberately not
// part of it: it is per connection and per run, not a property of the tap.
type Verdict struct {
	Reader string
	// UID is the tag UID in upper-case hex; it may be empty.
	UID string
	// Ctr is the SDM read counter; a tag that mirrors none encodes as
	// JSON null.
	Ctr ntag424.Counter
	URL string
	// Verdict is one of authentic, counterfeit, replayed, malformed or
	// unknown_profile. Canonical does not restrict it.
	Verdict string
	Reason  string
	// Time is when the verdict was reached. Only milliseconds are signed,
	// in UTC (TimeLayout); finer precision and the zone are dropped.
	Time time.Time

	// The members below are signed by canonical version 2 only.

	// Tap identifies the tap: a tag.read and the verdict.updated events
	// that settle it later carry the same Tap.
	Tap string
	// Profile names the profile whose keys verified the tag ("" if none).
	Profile string
	// TTStatus is the TagTamper status the tag mirrored ("" if none): read
	// from encrypted file data, it cannot be recovered from the signed URL
	// without the keys, so it is signed on its own.
	TTStatus string
	// Originality is the NXP originality signature check: "unchecked",
	// "valid", "invalid" or "unavailable".
	Originality string
	// Remote is the state of the remote verification (RemoteOff when none
	// is configured).
	Remote string
	// Fleet is the state of the fleet-wide counter check (FleetOff when no
	// fleet is configured).
	Fleet string

	// Detail says more about Reason for humans, e.g. the counters of a
	// replay. It never holds key material or internal error text, and it
	// is not signed.
	Detail string
}

// Canonical returns the bytes that Sign signs: the UTF-8 encoding of the
// JSON object
//
//	{"v":1,"key_id":K,"reader":R,"uid":U,"ctr":C,"url":L,"verdict":V,"reason":S,"time":T}
//
// with the members in exactly this order and no whitespace. C is a decimal
// number or null; T is v.Time in TimeLayout; every other value is a string,
// encoded the way ECMAScript's JSON.stringify (ECMA-262 §25.5.2.3,
// QuoteJSONString) encodes it:
//
//   - `"` and `\` become `\"` and `\\`;
//   - U+0008, U+0009, U+000A, U+000C, U+000D become \b \t \n \f \r;
//   - other code points below U+0020 become \u00XX with lower-case hex;
//   - everything else, including U+007F, U+2028, U+2029, `<`, `>`, `&` and
//     all non-ASCII characters, is written as itself in UTF-8.
//
// JSON.stringify also escapes lone surrogates, which a Go string cannot
// hold. A Go string can hold invalid UTF-8 instead: each byte that does not
// start a valid UTF-8 sequence is replaced by U+FFFD before encoding, which
// is exactly what encoding/json does when the daemon puts the same string
// on the wire. So a verifier that parses the event and re-encodes the
// fields with JSON.stringify gets identical bytes.
func Canonical(v Verdict, keyID string) []byte {
	return AppendCanonical(make([]byte, 0, canonicalSize(v, keyID)), v, keyID)
}

// CanonicalV2 returns the bytes that version 2 signs:
//
//	{"v":2,"key_id":K,"tap":I,"reader":R,"uid":U,"ctr":C,"url":L,"verdict":V,
//	 "reason":S,"time":T,"profile":P,"tt_status":X,"originality":O,
//	 "remote":M,"fleet":F}
//
// on one line, the members in exactly this order, encoded as Canonical
// encodes them.
func CanonicalV2(v Verdict, keyID string) []byte {
	return appendCanonical(make([]byte, 0, canonicalSize(v, keyID)+128+len(v.Tap)+len(v.Profile)), v, keyID, Version2)
}

// AppendCanonical appends Canonical(v, keyID) to dst and returns the
// extended slice.
func AppendCanonical(dst []byte, v Verdict, keyID string) []byte {
	return appendCanonical(dst, v, keyID, Version)
}

// appendCanonical appends the canonical encoding of the given version.
func appendCanonical(dst []byte, v Verdict, keyID string, version int) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(version), 10)
	dst = append(dst, `,"key_id":`...)
	dst = AppendJSONString(dst, keyID)
	if version >= Version2 {
		dst = append(dst, `,"tap":`...)
		dst = AppendJSONString(dst, v.Tap)
	}
	dst = append(dst, `,"reader":`...)
	dst = AppendJSONString(dst, v.Reader)
	dst = append(dst, `,"uid":`...)
	dst = AppendJSONString(dst, v.UID)
	dst = append(dst, `,"ctr":`...)
	dst = v.Ctr.AppendJSON(dst)
	dst = append(dst, `,"url":`...)
	dst = AppendJSONString(dst, v.URL)
	dst = append(dst, `,"verdict":`...)
	dst = AppendJSONString(dst, v.Verdict)
	dst = append(dst, `,"reason":`...)
	dst = AppendJSONString(dst, v.Reason)
	dst = append(dst, `,"time":"`...)
	dst = v.Time.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, '"')
	if version >= Version2 {
		for _, m := range [...]struct{ name, value string }{
			{`,"profile":`, v.Profile}, {`,"tt_status":`, v.TTStatus}, {`,"originality":`, v.Originality},
			{`,"remote":`, v.Remote}, {`,"fleet":`, v.Fleet},
		} {
			dst = append(dst, m.name...)
			dst = AppendJSONString(dst, m.value)
		}
	}
	return append(dst, '}')
}

// canonicalSize is a close upper bound of len(Canonical(v, keyID)) for
// strings that need no escaping, so Canonical allocates once in the common
// case.
func canonicalSize(v Verdict, keyID string) int {
	const fixed = len(`{"v":1,"key_id":"","reader":"","uid":"","ctr":4294967295,"url":"","verdict":"","reason":"","time":"2006-01-02T15:04:05.000Z"}`)
	return fixed + len(keyID) + len(v.Reader) + len(v.UID) + len(v.URL) + len(v.Verdict) + len(v.Reason)
}

// AppendJSONString appends s as a JSON string, quoted as JSON.stringify
// quotes it (see Canonical), with each byte of invalid UTF-8 replaced by
// U+FFFD. It is nfcd's one hand-written JSON string encoder, for the
// signed canonical form and the allocation-free `verify --batch` output.
func AppendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				// Invalid UTF-8: one U+FFFD per bad byte, as
				// encoding/json writes it on the wire.
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Sign signs the canonical encoding of v and keyID with priv and returns
// the signature in unpadded base64url (86 characters). It panics if priv is
// not an Ed25519 private key of the right length, a programmer error.
func Sign(priv ed25519.PrivateKey, keyID string, v Verdict) (sig string) {
	return sign(priv, keyID, v, Version)
}

// SignV2 is Sign for canonical version 2.
func SignV2(priv ed25519.PrivateKey, keyID string, v Verdict) (sig string) {
	return sign(priv, keyID, v, Version2)
}

func sign(priv ed25519.PrivateKey, keyID string, v Verdict, version int) string {
	// A typical verdict (reader name, SUN URL) encodes to about 300 bytes
	// (version 2: 400); the stack buffer keeps those allocation-free.
	var buf [640]byte
	msg := appendCanonical(buf[:0], v, keyID, version)
	s := ed25519.Sign(priv, msg)
	return base64.RawURLEncoding.EncodeToString(s)
}

// sigEncoding rejects padding and non-zero trailing bits, so that exactly
// one text form of each signature verifies.
var sigEncoding = base64.RawURLEncoding.Strict()

// Verify checks that sig (unpadded base64url) is pub's signature of the
// canonical encoding of v and keyID. It returns ErrBadSignature when it is
// not, and ErrBadKey when pub is not 32 bytes.
//
// keyID is part of the signed bytes, so a signature made under another key
// ID fails. Verify does not require keyID to equal KeyID(pub): the caller
// picks pub by the key ID it trusts.
func Verify(pub ed25519.PublicKey, keyID string, v Verdict, sig string) error {
	return verify(pub, keyID, v, sig, Version)
}

// VerifyV2 is Verify for canonical version 2.
func VerifyV2(pub ed25519.PublicKey, keyID string, v Verdict, sig string) error {
	return verify(pub, keyID, v, sig, Version2)
}

func verify(pub ed25519.PublicKey, keyID string, v Verdict, sig string, version int) error {
	if len(pub) != ed25519.PublicKeySize {
		return ErrBadKey
	}
	if sigEncoding.DecodedLen(len(sig)) != ed25519.SignatureSize {
		return ErrBadSignature
	}
	var s [ed25519.SignatureSize]byte
	if n, err := sigEncoding.Decode(s[:], []byte(sig)); err != nil || n != len(s) {
		return ErrBadSignature
	}
	var buf [640]byte
	if !ed25519.Verify(pub, appendCanonical(buf[:0], v, keyID, version), s[:]) {
		return ErrBadSignature
	}
	return nil
}

// KeyID returns the ID of a verdict signing key: the first 8 bytes of
// SHA-256 of the 32-byte public key, in lower-case hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signature is a signature member of a signed payload: "signature"
// (version 1 on tag.read) or "signature_v2".
type Signature struct {
	Alg   string `json:"alg"` // always Alg
	KeyID string `json:"key_id"`
	Sig   string `json:"sig"` // unpadded base64url
	// V is the canonical version, 2 for version 2; version 1 signatures
	// leave it out (they predate it).
	V int `json:"v,omitempty"`
}

// Payload is the signed part of a tag.read event payload, in its JSON wire
// form: the members of both canonical versions and both signatures. The
// daemon adds unsigned members by embedding it in a larger struct;
// encoding/json promotes the embedded fields.
type Payload struct {
	Reader      string          `json:"reader"`
	UID         string          `json:"uid"`
	Ctr         ntag424.Counter `json:"ctr"`
	URL         string          `json:"url"`
	Verdict     string          `json:"verdict"`
	Reason      string          `json:"reason"`
	Time        string          `json:"time"` // TimeLayout
	Tap         string          `json:"tap"`
	Profile     string          `json:"profile"`
	TTStatus    string          `json:"tt_status"`
	Originality string          `json:"originality"`
	Remote      StateMember     `json:"remote"`
	Fleet       StateMember     `json:"fleet"`
	Signature   Signature       `json:"signature"`
	SignatureV2 *Signature      `json:"signature_v2,omitempty"`
}

// Seal signs v with priv under keyID, with both canonical versions, and
// returns its wire form.
func Seal(priv ed25519.PrivateKey, keyID string, v Verdict) Payload {
	p := payloadOf(v)
	p.Signature = Signature{Alg: Alg, KeyID: keyID, Sig: Sign(priv, keyID, v)}
	p.SignatureV2 = &Signature{Alg: Alg, KeyID: keyID, Sig: SignV2(priv, keyID, v), V: Version2}
	return p
}

// SealV2 signs v with canonical version 2 only: the "signature" of events
// that version 1 verifiers never knew (verdict.updated).
func SealV2(priv ed25519.PrivateKey, keyID string, v Verdict) Payload {
	p := payloadOf(v)
	p.Signature = Signature{Alg: Alg, KeyID: keyID, Sig: SignV2(priv, keyID, v), V: Version2}
	return p
}

func payloadOf(v Verdict) Payload {
	return Payload{
		Reader: v.Reader, UID: v.UID, Ctr: v.Ctr, URL: v.URL, Verdict: v.Verdict, Reason: v.Reason,
		Time: v.Time.UTC().Format(TimeLayout),
		Tap:  v.Tap, Profile: v.Profile, TTStatus: v.TTStatus, Originality: v.Originality, Remote: StateMember(v.Remote), Fleet: StateMember(v.Fleet),
	}
}

// StateMember is the wire form of the remote and fleet checks' states in
// a payload: the object {"state":S} ("remote":{"state":"pending"},
// "fleet":{"state":"confirmed"}). Version 2 of the canonical form signs
// the state S itself, as a string. It also decodes the plain string S
// that daemons before this form sent.
type StateMember string

// MarshalJSON writes {"state":S}: in one allocation when S needs no
// escaping (the states are lower-case words), else as encoding/json would.
func (m StateMember) MarshalJSON() ([]byte, error) {
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return json.Marshal(struct {
				State string `json:"state"`
			}{string(m)})
		}
	}
	b := make([]byte, 0, len(m)+12)
	b = append(b, `{"state":"`...)
	b = append(b, m...)
	return append(b, `"}`...), nil
}

// UnmarshalJSON reads {"state":S} or a plain string S.
func (m *StateMember) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = StateMember(s)
		return nil
	}
	var o struct {
		State *string `json:"state"`
	}
	if err := json.Unmarshal(b, &o); err != nil || o.State == nil {
		return fmt.Errorf("%w: a check state is neither {\"state\":…} nor a string", ErrMalformed)
	}
	*m = StateMember(*o.State)
	return nil
}

// Open verifies p's signatures with pub and returns the verdict it
// carries. Every signature present must verify: "signature" under its
// version (1 unless it says v 2) and "signature_v2" when present. The
// version 2 members are returned only when a version 2 signature covers
// them. It returns ErrMalformed when an algorithm is not Alg or the time is
// not in TimeLayout, and otherwise what Verify returns. On error the
// Verdict is the zero value.
func (p Payload) Open(pub ed25519.PublicKey) (Verdict, error) {
	t, err := time.Parse(TimeLayout, p.Time)
	if err != nil || t.Format(TimeLayout) != p.Time {
		// Only the exact form signs and verifies; anything else could
		// not have come from Seal.
		return Verdict{}, fmt.Errorf("%w: time not in %s form", ErrMalformed, TimeLayout)
	}
	v := Verdict{Reader: p.Reader, UID: p.UID, Ctr: p.Ctr, URL: p.URL, Verdict: p.Verdict, Reason: p.Reason, Time: t}
	v2 := v
	v2.Tap, v2.Profile, v2.TTStatus, v2.Originality, v2.Remote, v2.Fleet = p.Tap, p.Profile, p.TTStatus, p.Originality, string(p.Remote), string(p.Fleet)
	sigs := []Signature{p.Signature}
	if p.SignatureV2 != nil {
		if p.SignatureV2.V != Version2 {
			return Verdict{}, fmt.Errorf("%w: signature_v2 of version %d", ErrMalformed, p.SignatureV2.V)
		}
		sigs = append(sigs, *p.SignatureV2)
	}
	covered := false
	for _, sig := range sigs {
		if sig.Alg != Alg {
			return Verdict{}, fmt.Errorf("%w: algorithm %q", ErrMalformed, sig.Alg)
		}
		switch sig.V {
		case 0, Version:
			err = Verify(pub, sig.KeyID, v, sig.Sig)
		case Version2:
			err, covered = VerifyV2(pub, sig.KeyID, v2, sig.Sig), true
		default:
			err = fmt.Errorf("%w: canonical version %d", ErrMalformed, sig.V)
		}
		if err != nil {
			return Verdict{}, err
		}
	}
	if covered {
		return v2, nil
	}
	return v, nil
}
