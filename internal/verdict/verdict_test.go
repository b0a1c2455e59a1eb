package verdict

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// testKey is the RFC 8032 §7.1 TEST 1 key pair, so the signatures below are
// reproducible with any Ed25519 implementation.
func testKey(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if got, want := hex.EncodeToString(pub), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"; got != want {
		t.Fatalf("RFC 8032 TEST 1 public key = %s, want %s", got, want)
	}
	return priv, pub
}

// docSample is the sample in docs/signed-verdicts.md.
var docSample = Verdict{
	Reader:  "ACS ACR1252 1S CL Reader PICC 0",
	UID:     "04A1B2C3D4E5F6",
	Ctr:     ntag424.CounterOf(42),
	URL:     "https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086",
	Verdict: "authentic",
	Time:    time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC),
}

const (
	docKeyID = "21fe31dfa154a261" // KeyID of the RFC 8032 TEST 1 public key
	docSig   = "yQHLC9fQi40qapSB4JSlOvCpweXT3d9t0Iib09xcYEjOiXfhRASYicMfn1G7J50RqWOBznJ1YGcoVIl0iyxnDg"
)

// trickySample exercises every escaping rule: quotes, backslash, all short
// escapes, \u00XX (lower-case), DEL and U+2028/U+2029 left as is, HTML
// characters left as is, non-ASCII and an emoji as UTF-8, invalid UTF-8
// (one U+FFFD per bad byte), null ctr, empty UID and a non-UTC time.
var trickySample = Verdict{
	Reader:  "Lecteur \"Caisse\" n°2 \\ 😀",
	Verdict: "malformed",
	Reason:  "bad\x00\x01\b\t\n\v\f\r\x1f\x7f <a&b> \u2028\u2029 \xff\xfe end",
	Time:    time.Date(2026, 12, 1, 11, 0, 0, 999999999, time.FixedZone("CET", 3600)),
}

func TestCanonicalGolden(t *testing.T) {
	tests := []struct {
		name  string
		v     Verdict
		keyID string
		want  string
	}{
		{
			name:  "doc sample",
			v:     docSample,
			keyID: docKeyID,
			want: `{"v":1,"key_id":"21fe31dfa154a261","reader":"ACS ACR1252 1S CL Reader PICC 0","uid":"04A1B2C3D4E5F6","ctr":42,` +
				`"url":"https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086",` +
				`"verdict":"authentic","reason":"","time":"2026-12-01T10:00:00.123Z"}`,
		},
		{
			name:  "tricky",
			v:     trickySample,
			keyID: "k",
			want: `{"v":1,"key_id":"k","reader":"Lecteur \"Caisse\" n°2 \\ 😀","uid":"","ctr":null,"url":"","verdict":"malformed",` +
				`"reason":"bad\u0000\u0001\b\t\n\u000b\f\r\u001f` + "\x7f <a&b> \u2028\u2029 \uFFFD\uFFFD end" + `",` +
				`"time":"2026-12-01T10:00:00.999Z"}`,
		},
		{
			name: "zero",
			want: `{"v":1,"key_id":"","reader":"","uid":"","ctr":null,"url":"","verdict":"","reason":"","time":"0001-01-01T00:00:00.000Z"}`,
		},
		{
			name: "max counter",
			v:    Verdict{Ctr: ntag424.CounterOf(0xFFFFFFFF)},
			want: `{"v":1,"key_id":"","reader":"","uid":"","ctr":4294967295,"url":"","verdict":"","reason":"","time":"0001-01-01T00:00:00.000Z"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Canonical(tc.v, tc.keyID); string(got) != tc.want {
				t.Errorf("Canonical(%s) =\n%s\nwant\n%s", tc.name, got, tc.want)
			}
			prefix := []byte("prefix")
			if got := AppendCanonical(prefix, tc.v, tc.keyID); string(got) != "prefix"+tc.want {
				t.Errorf("AppendCanonical(%s) = %s, want prefix + canonical", tc.name, got)
			}
		})
	}
}

// referenceCanonical builds the canonical bytes with encoding/json, which
// differs from JSON.stringify only in escaping U+2028 and U+2029.
func referenceCanonical(t testing.TB, v Verdict, keyID string) []byte {
	t.Helper()
	type ordered struct {
		V       int             `json:"v"`
		KeyID   string          `json:"key_id"`
		Reader  string          `json:"reader"`
		UID     string          `json:"uid"`
		Ctr     ntag424.Counter `json:"ctr"`
		URL     string          `json:"url"`
		Verdict string          `json:"verdict"`
		Reason  string          `json:"reason"`
		Time    string          `json:"time"`
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(ordered{1, keyID, v.Reader, v.UID, v.Ctr, v.URL, v.Verdict, v.Reason, v.Time.UTC().Format(TimeLayout)})
	if err != nil {
		t.Fatal(err)
	}
	return unescapeJS(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// unescapeJS undoes the escapes encoding/json writes and JSON.stringify does
// not: \u2028, \u2029 and \ufffd (for invalid UTF-8). It steps over other
// escapes whole, so an escaped backslash followed by "u2028" stays as is.
func unescapeJS(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		if i+6 <= len(b) {
			switch string(b[i : i+6]) {
			case `\u2028`, `\u2029`, `\ufffd`:
				var r rune
				fmt.Sscanf(string(b[i+2:i+6]), "%x", &r)
				out = utf8.AppendRune(out, r)
				i += 5
				continue
			}
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}

// FuzzCanonical checks Canonical against encoding/json and that the result
// is valid JSON whose strings decode to the (UTF-8-sanitised) inputs.
func FuzzCanonical(f *testing.F) {
	f.Add(trickySample.Reader, trickySample.Reason, "k", int64(0), uint32(0), false)
	f.Add(docSample.URL, "", docKeyID, docSample.Time.UnixNano(), uint32(42), true)
	f.Add("\u2028\\\"", "\xed\xa0\x80", "\x00", int64(-1), uint32(1), true)
	f.Fuzz(func(t *testing.T, reader, reason, keyID string, ns int64, ctr uint32, hasCtr bool) {
		v := Verdict{Reader: reader, UID: reason, URL: reader + reason, Verdict: keyID, Reason: reason, Time: time.Unix(0, ns)}
		if hasCtr {
			v.Ctr = ntag424.CounterOf(ctr)
		}
		got := Canonical(v, keyID)
		if want := referenceCanonical(t, v, keyID); !bytes.Equal(got, want) {
			t.Fatalf("Canonical(%+v, %q) =\n%q\nencoding/json:\n%q", v, keyID, got, want)
		}
		if !utf8.Valid(got) {
			t.Fatalf("Canonical(%+v) is not valid UTF-8", v)
		}
		var back struct {
			Reader string `json:"reader"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("Canonical(%+v) is not JSON: %v", v, err)
		}
		if back.Reader != jsonRoundTrip(t, reader) || back.Reason != jsonRoundTrip(t, reason) {
			t.Fatalf("decoded %q %q, want %q %q", back.Reader, back.Reason, reader, reason)
		}
	})
}

// jsonRoundTrip returns s as it arrives after encoding/json on the wire:
// each invalid UTF-8 byte replaced by U+FFFD.
func jsonRoundTrip(t *testing.T, s string) string {
	var out string
	if err := json.Unmarshal(mustJSON(t, s), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignVerify(t *testing.T) {
	priv, pub := testKey(t)
	if got := KeyID(pub); got != docKeyID {
		t.Fatalf("KeyID(RFC 8032 TEST 1) = %s, want %s", got, docKeyID)
	}
	// Ed25519 is deterministic (RFC 8032 §5.1.6), so the signature is a
	// golden value too.
	sig := Sign(priv, docKeyID, docSample)
	if sig != docSig {
		t.Errorf("Sign(doc sample) = %s, want %s", sig, docSig)
	}
	if err := Verify(pub, docKeyID, docSample, sig); err != nil {
		t.Errorf("Verify(doc sample) = %v, want nil", err)
	}
	for _, v := range []Verdict{trickySample, {}} {
		if err := Verify(pub, "k", v, Sign(priv, "k", v)); err != nil {
			t.Errorf("Verify(Sign(%+v)) = %v, want nil", v, err)
		}
	}
	// Only milliseconds are signed, in UTC.
	same := docSample
	same.Time = docSample.Time.Truncate(time.Millisecond).In(time.FixedZone("x", -5*3600))
	if err := Verify(pub, docKeyID, same, sig); err != nil {
		t.Errorf("Verify(same ms, other zone) = %v, want nil", err)
	}
}

func TestTamper(t *testing.T) {
	priv, pub := testKey(t)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	sig := Sign(priv, docKeyID, docSample)
	tests := []struct {
		name   string
		mutate func(v *Verdict)
	}{
		{"reader", func(v *Verdict) { v.Reader += " " }},
		{"uid", func(v *Verdict) { v.UID = "04A1B2C3D4E5F7" }},
		{"uid empty", func(v *Verdict) { v.UID = "" }},
		{"ctr", func(v *Verdict) { v.Ctr = ntag424.CounterOf(43) }},
		{"ctr null", func(v *Verdict) { v.Ctr = ntag424.Counter{} }},
		{"url", func(v *Verdict) { v.URL = strings.Replace(v.URL, "EF96", "EF97", 1) }},
		{"verdict", func(v *Verdict) { v.Verdict = "replayed" }},
		{"reason", func(v *Verdict) { v.Reason = "x" }},
		{"time", func(v *Verdict) { v.Time = v.Time.Add(time.Millisecond) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := docSample
			tc.mutate(&v)
			if err := Verify(pub, docKeyID, v, sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify(tampered %s) = %v, want ErrBadSignature", tc.name, err)
			}
		})
	}
	if err := Verify(pub, "0000000000000000", docSample, sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(other key ID) = %v, want ErrBadSignature", err)
	}
	if err := Verify(otherPub, docKeyID, docSample, sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(other key) = %v, want ErrBadSignature", err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sig)
	for i := range len(raw) * 8 {
		flipped := bytes.Clone(raw)
		flipped[i/8] ^= 1 << (i % 8)
		if err := Verify(pub, docKeyID, docSample, base64.RawURLEncoding.EncodeToString(flipped)); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify(signature with bit %d flipped) = %v, want ErrBadSignature", i, err)
		}
	}
	badEncodings := map[string]string{
		"empty":         "",
		"padded":        sig + "==",
		"std alphabet":  base64.RawStdEncoding.EncodeToString(raw),
		"short":         sig[:85],
		"long":          sig + "A",
		"trailing bits": sig[:85] + "h", // last char 'g' carries 4 spare bits; 'h' sets one
		"not base64":    strings.Repeat("*", 86),
	}
	if !strings.ContainsAny(base64.RawStdEncoding.EncodeToString(raw), "+/") {
		delete(badEncodings, "std alphabet")
	}
	for name, s := range badEncodings {
		if err := Verify(pub, docKeyID, docSample, s); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify(%s signature) = %v, want ErrBadSignature", name, err)
		}
	}
	for _, n := range []int{0, 31, 33, 64} {
		if err := Verify(make(ed25519.PublicKey, n), docKeyID, docSample, sig); !errors.Is(err, ErrBadKey) {
			t.Errorf("Verify(%d-byte key) = %v, want ErrBadKey", n, err)
		}
	}
}

func TestPayload(t *testing.T) {
	priv, pub := testKey(t)
	for _, v := range []Verdict{docSample, trickySample} {
		b, err := json.Marshal(Seal(priv, docKeyID, v))
		if err != nil {
			t.Fatal(err)
		}
		var p Payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		got, err := p.Open(pub)
		if err != nil {
			t.Fatalf("Open(Seal(%+v)) error %v", v, err)
		}
		if !bytes.Equal(Canonical(got, docKeyID), Canonical(v, docKeyID)) {
			t.Errorf("Open(Seal(%+v)) = %+v", v, got)
		}
	}
	p := Seal(priv, docKeyID, docSample)
	if string(mustJSON(t, p)) != `{"reader":"ACS ACR1252 1S CL Reader PICC 0","uid":"04A1B2C3D4E5F6","ctr":42,`+
		`"url":"https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88\u0026cmac=94EED9EE65337086",`+
		`"verdict":"authentic","reason":"","time":"2026-12-01T10:00:00.123Z",`+
		`"tap":"","profile":"","tt_status":"","originality":"","remote":{"state":""},"fleet":{"state":""},`+
		`"signature":{"alg":"Ed25519","key_id":"21fe31dfa154a261","sig":"`+docSig+`"},`+
		`"signature_v2":{"alg":"Ed25519","key_id":"21fe31dfa154a261","sig":"`+SignV2(priv, docKeyID, docSample)+`","v":2}}` {
		t.Errorf("wire form = %s", mustJSON(t, p))
	}
	tests := []struct {
		name   string
		mutate func(p *Payload)
		want   error
	}{
		{"alg", func(p *Payload) { p.Signature.Alg = "ed25519" }, ErrMalformed},
		{"time zone", func(p *Payload) { p.Time = "2026-12-01T11:00:00.123+01:00" }, ErrMalformed},
		{"time no ms", func(p *Payload) { p.Time = "2026-12-01T10:00:00Z" }, ErrMalformed},
		{"time garbage", func(p *Payload) { p.Time = "yesterday" }, ErrMalformed},
		{"key id", func(p *Payload) { p.Signature.KeyID = "x" }, ErrBadSignature},
		{"ctr", func(p *Payload) { p.Ctr = ntag424.Counter{} }, ErrBadSignature},
		{"verdict", func(p *Payload) { p.Verdict = "counterfeit" }, ErrBadSignature},
		// Version 2 members: only signature_v2 covers them.
		{"profile", func(p *Payload) { p.Profile = "weak" }, ErrBadSignature},
		{"tt_status", func(p *Payload) { p.TTStatus = "CC" }, ErrBadSignature},
		{"originality", func(p *Payload) { p.Originality = "valid" }, ErrBadSignature},
		{"tap", func(p *Payload) { p.Tap = "t2" }, ErrBadSignature},
		{"remote", func(p *Payload) { p.Remote = "confirmed" }, ErrBadSignature},
		{"fleet", func(p *Payload) { p.Fleet = "confirmed" }, ErrBadSignature},
		{"v2 alg", func(p *Payload) { p.SignatureV2.Alg = "none" }, ErrMalformed},
		{"v2 version", func(p *Payload) { p.SignatureV2.V = 3 }, ErrMalformed},
	}
	for _, tc := range tests {
		q := Seal(priv, docKeyID, docSample)
		tc.mutate(&q)
		if v, err := q.Open(pub); !errors.Is(err, tc.want) || v != (Verdict{}) {
			t.Errorf("Open(%s changed) = %+v, %v; want zero, %v", tc.name, v, err, tc.want)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNodeCrossCheck runs testdata/verify.mjs under Node.js: JavaScript
// rebuilds the canonical bytes with JSON.stringify from the wire JSON (as
// encoding/json wrote it, HTML escapes and all), must get exactly Go's bytes,
// and verifies the signature with WebCrypto Ed25519.
func TestNodeCrossCheck(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPING JavaScript cross-check: node not found in PATH (install Node.js 20+ to run it)")
	}
	priv, pub := testKey(t)
	type jsCase struct {
		Name        string  `json:"name"`
		PublicKey   string  `json:"public_key"`
		Canonical   []byte  `json:"canonical"`
		CanonicalV2 []byte  `json:"canonical_v2"`
		Payload     Payload `json:"payload"`
	}
	var cases []jsCase
	add := func(name string, v Verdict, keyID string) {
		cases = append(cases, jsCase{name, base64.RawURLEncoding.EncodeToString(pub), Canonical(v, keyID), CanonicalV2(v, keyID), Seal(priv, keyID, v)})
	}
	add("doc sample", docSample, docKeyID)
	add("tricky", trickySample, "k")
	add("zero", Verdict{}, "")
	// Every byte value and a few multi-byte characters in one string.
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	all = append(all, "\u00e9\u20ac\u2028\u2029\U0001F600\uFEFF\uFFFD\xed\xa0\x80\xf4\x90\x80\x80"...)
	add("all bytes", Verdict{Reader: string(all), UID: "04", Ctr: ntag424.CounterOf(16777215), URL: string(all[:128]), Verdict: "replayed", Reason: "</script>", Time: time.Unix(1<<33, 5e6),
		Tap: string(all[100:140]), Profile: "prof\u2028\"", TTStatus: "OO", Originality: "valid", Remote: "confirmed", Fleet: "unconfirmed"}, docKeyID)

	dir := t.TempDir()
	file := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(file, mustJSON(t, cases), 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "verify.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, script, file).CombinedOutput()
	t.Logf("node %s:\n%s", script, out)
	if err != nil {
		t.Fatalf("node cross-check failed: %v", err)
	}
	if n := strings.Count(string(out), "\nok ") + btoi(strings.HasPrefix(string(out), "ok ")); n != 2*len(cases) {
		t.Errorf("node verified %d signatures, want %d", n, 2*len(cases))
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAllocations(t *testing.T) {
	priv, pub := testKey(t)
	sig := Sign(priv, docKeyID, docSample)
	if n := testing.AllocsPerRun(100, func() { _ = Verify(pub, docKeyID, docSample, sig) }); n != 0 {
		t.Errorf("Verify allocates %.0f times, want 0", n)
	}
}

func BenchmarkSign(b *testing.B) {
	priv, _ := testKey(b)
	b.ReportAllocs()
	for b.Loop() {
		Sign(priv, docKeyID, docSample)
	}
}

func BenchmarkVerify(b *testing.B) {
	priv, pub := testKey(b)
	sig := Sign(priv, docKeyID, docSample)
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(pub, docKeyID, docSample, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonical(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(Canonical(trickySample, docKeyID))))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCanonical(buf[:0], trickySample, docKeyID)
	}
}

// TestCanonicalV2Reference checks version 2 against encoding/json of a
// struct with the members in order (encoding/json escapes U+2028/U+2029
// where JSON.stringify does not, so the sample avoids them).
func TestCanonicalV2Reference(t *testing.T) {
	v := Verdict{Reader: "R \"1\"\n", UID: "04A1", Ctr: ntag424.CounterOf(7), URL: "https://x/?a=1&b=<2>", Verdict: Replayed,
		Reason: ReasonReplayedCounter, Time: time.Unix(1700000000, 123456789), Tap: "t-1", Profile: "p\\", TTStatus: "CO",
		Originality: "unchecked", Remote: RemoteOff, Fleet: "confirmed", Detail: "not signed"}
	type ordered struct {
		V           int             `json:"v"`
		KeyID       string          `json:"key_id"`
		Tap         string          `json:"tap"`
		Reader      string          `json:"reader"`
		UID         string          `json:"uid"`
		Ctr         ntag424.Counter `json:"ctr"`
		URL         string          `json:"url"`
		Verdict     string          `json:"verdict"`
		Reason      string          `json:"reason"`
		Time        string          `json:"time"`
		Profile     string          `json:"profile"`
		TTStatus    string          `json:"tt_status"`
		Originality string          `json:"originality"`
		Remote      string          `json:"remote"`
		Fleet       string          `json:"fleet"`
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(ordered{2, "k", v.Tap, v.Reader, v.UID, v.Ctr, v.URL, v.Verdict, v.Reason, v.Time.UTC().Format(TimeLayout),
		v.Profile, v.TTStatus, v.Originality, v.Remote, v.Fleet})
	if got, want := string(CanonicalV2(v, "k")), strings.TrimSuffix(b.String(), "\n"); got != want {
		t.Errorf("CanonicalV2 =\n%s\nwant\n%s", got, want)
	}
	priv, pub := testKey(t)
	p := SealV2(priv, "k", v)
	if p.SignatureV2 != nil || p.Signature.V != Version2 {
		t.Fatalf("SealV2 signatures %+v / %+v, want one version 2 signature", p.Signature, p.SignatureV2)
	}
	got, err := p.Open(pub)
	v.Detail = ""
	v.Time = v.Time.Truncate(time.Millisecond).UTC()
	if err != nil || got != v {
		t.Errorf("Open(SealV2) = %+v, %v; want %+v", got, err, v)
	}
}

// TestNodeClientVerify: verifyVerdict of web/nfcd-client.js accepts what
// Seal (tag.read: both versions) and SealV2 (verdict.updated: version 2
// as "signature") produce, and rejects a changed member, another key and
// a missing signature, like Payload.Open.
func TestNodeClientVerify(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPING JavaScript client check: node not found in PATH (install Node.js 20+ to run it)")
	}
	priv, pub := testKey(t)
	_, otherPub, _ := ed25519.GenerateKey(nil)
	key := base64.RawURLEncoding.EncodeToString(pub)
	v := docSample
	v.Tap, v.Profile, v.TTStatus, v.Originality, v.Remote, v.Fleet = "8103c1711f5d-7", "demo", "CC", "valid", "pending", "off"
	type jsCase struct {
		Name      string  `json:"name"`
		PublicKey string  `json:"public_key"`
		Payload   Payload `json:"payload"`
		wantOK    bool
		wantV     int
	}
	tagRead, updated := Seal(priv, docKeyID, v), SealV2(priv, docKeyID, v)
	v1only := tagRead
	v1only.SignatureV2 = nil
	remoteChanged := tagRead
	remoteChanged.Remote = "authentic"
	uidChanged := updated
	uidChanged.UID = "04A1B2C3D4E5F7"
	badAlg := updated
	badAlg.Signature.Alg = "RS256"
	cases := []jsCase{
		{"tag.read", key, tagRead, true, 2},
		{"verdict.updated", key, updated, true, 2},
		{"version 1 only", key, v1only, true, 1},
		{"remote changed", key, remoteChanged, false, 0},
		{"uid changed", key, uidChanged, false, 0},
		{"other key", base64.RawURLEncoding.EncodeToString(otherPub), tagRead, false, 0},
		{"bad alg", key, badAlg, false, 0},
		{"no signature", key, Payload{UID: v.UID}, false, 0},
	}
	for _, c := range cases {
		if got, err := c.Payload.Open(pub); (err == nil) != c.wantOK && c.Name != "other key" {
			t.Fatalf("%s: Go Open = %+v, %v; the case is wrong", c.Name, got, err)
		}
	}
	file := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(file, mustJSON(t, cases), 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "client.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, script, file).CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("node printed %d lines, want %d:\n%s", len(lines), len(cases), out)
	}
	for i, l := range lines {
		var r struct {
			Name    string `json:"name"`
			OK      bool   `json:"ok"`
			Version int    `json:"version"`
			KeyID   string `json:"key_id"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		c := cases[i]
		if r.Name != c.Name || r.OK != c.wantOK || r.Version != c.wantV || (c.wantOK && r.KeyID != docKeyID) {
			t.Errorf("verifyVerdict(%s) = %+v, want ok %v version %d", c.Name, r, c.wantOK, c.wantV)
		}
	}
}

// The remote and fleet members are {"state":S} on the wire (issue 9's
// "remote":{"state":"pending"}, issue 17's "fleet":{"state":…}); the plain
// strings of earlier daemons still decode, and the signature covers S
// either way.
func TestStateMembers(t *testing.T) {
	priv, pub := testKey(t)
	v := docSample
	v.Tap, v.Remote, v.Fleet = "t-1", "pending", "off"
	b := mustJSON(t, Seal(priv, docKeyID, v))
	if !bytes.Contains(b, []byte(`"remote":{"state":"pending"}`)) || !bytes.Contains(b, []byte(`"fleet":{"state":"off"}`)) {
		t.Fatalf("wire form %s, want remote and fleet as {\"state\":…}", b)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if r, _ := m["remote"].(map[string]any); r["state"] != "pending" {
		t.Errorf("remote = %#v", m["remote"])
	}
	old := bytes.Replace(b, []byte(`{"state":"pending"}`), []byte(`"pending"`), 1)
	old = bytes.Replace(old, []byte(`{"state":"off"}`), []byte(`"off"`), 1)
	for _, wire := range [][]byte{b, old} {
		var p Payload
		if err := json.Unmarshal(wire, &p); err != nil || p.Remote != "pending" {
			t.Fatalf("decode %s: %q, %v", wire, p.Remote, err)
		}
		if got, err := p.Open(pub); err != nil || got.Remote != "pending" || got.Fleet != "off" {
			t.Errorf("Open(%s) = %+v, %v", wire, got, err)
		}
	}
	for _, bad := range []string{`{"remote":7}`, `{"remote":{"status":"pending"}}`, `{"remote":["pending"]}`} {
		var p Payload
		if err := json.Unmarshal([]byte(bad), &p); !errors.Is(err, ErrMalformed) {
			t.Errorf("decode %s: %v, want ErrMalformed", bad, err)
		}
	}
}

// TestStateMemberMarshalMatchesJSON: the hand-written encoding of a state
// is the one encoding/json gives {"state":S}, escapes included.
func TestStateMemberMarshalMatchesJSON(t *testing.T) {
	for _, s := range []string{"", RemoteOff, FleetOff, "pending", "a\"b", "x<y>&", "é", "\x01", `back\slash`} {
		got, err := StateMember(s).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(struct {
			State string `json:"state"`
		}{s})
		if string(got) != string(want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}
