package logging

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Secrets in the shapes nfcd handles. None may survive redaction.
const (
	aesKey      = "00112233445566778899AABBCCDDEEFF"
	piccData    = "EF963FF7828658A599F3041510671E88"
	cmac        = "94EED9EE65337086"
	apiToken    = "nfcd_q3J9xkPz0AbCdEfGhIjKlMnOpQrStUvWxYz0123456"
	tokenID     = "nfcd_q3J9xkP" // the display ID: kept
	leoKey      = "leo_live_8f3kQ2mZx9"
	dbPassword  = "hunter2pass"
	tagUID      = "04DE5F1EACC040"
	sampleURL   = "https://sdm.example/tag?picc_data=" + piccData + "&cmac=" + cmac
	boltCardURL = "lnurlw://card.example/ln?p=A2EF40F6D46F1BB36E6EBF0114D4A464&c=" + "F509EEA788E37E32"
)

func TestRedactString(t *testing.T) {
	r := NewRedactor(false)
	tests := []struct {
		name, in string
		want     string // "" means: must not contain the secrets, checked below
		secrets  []string
	}{
		{name: "plain", in: "reader added", want: "reader added"},
		{name: "short hex kept", in: "sw=91AE counter=000045", want: "sw=91AE counter=000045"},
		{name: "key", in: "key " + aesKey + " loaded", want: "key [redacted] loaded"},
		{name: "lower-case key", in: strings.ToLower(aesKey), want: Redacted},
		{name: "sun url", in: sampleURL, want: "https://sdm.example/tag?picc_data=[redacted]&cmac=[redacted]"},
		{name: "cmac under any parameter name", in: "https://x.example/t?e=00&sig=" + cmac + "&n=1", want: "https://x.example/t?e=00&sig=[redacted]&n=1"},
		{name: "bolt card", in: boltCardURL, want: "lnurlw://card.example/ln?p=[redacted]&c=[redacted]"},
		{name: "bolt card in an error", in: "verify " + boltCardURL + ": bad mac", want: "verify lnurlw://card.example/ln?p=[redacted]&c=[redacted]: bad mac"},
		{name: "17 hex digits are no CMAC", in: "https://x.example/?n=94EED9EE653370861", want: "https://x.example/?n=94EED9EE653370861"},
		{name: "api token", in: "client token " + apiToken + " accepted", want: "client token " + tokenID + "[redacted] accepted"},
		{name: "token id kept", in: "revoked " + tokenID, want: "revoked " + tokenID},
		{name: "bearer", in: "Authorization: Bearer " + leoKey, secrets: []string{leoKey, "8f3kQ2mZx9"}},
		{name: "leo key alone", in: "using " + leoKey, want: "using leo_[redacted]"},
		{name: "x-api-key header", in: "x-api-key: abc123secret", want: "x-api-key: [redacted]"},
		{name: "dsn url", in: "postgres://nfcd:" + dbPassword + "@db.example:5432/nfcd", want: "postgres://nfcd:[redacted]@db.example:5432/nfcd"},
		{name: "dsn keywords", in: "host=db user=nfcd password=" + dbPassword + " dbname=nfcd", want: "host=db user=nfcd password=[redacted] dbname=nfcd"},
		{name: "json body", in: `{"uid":"` + tagUID + `","ctr":"000045","cmac":"` + cmac + `"}`, secrets: []string{tagUID, cmac}},
		{name: "kv cmac", in: "bad cmac=" + cmac, want: "bad cmac=[redacted]"},
		{name: "uid parameter", in: "https://x.example/?uid=" + tagUID + "&ctr=000045", secrets: []string{tagUID}},
		{name: "config key line", in: `sdm_file_read_key = "` + aesKey + `"`, secrets: []string{aesKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.String(tc.in)
			if tc.want != "" && got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
			for _, s := range tc.secrets {
				if strings.Contains(strings.ToUpper(got), strings.ToUpper(s)) {
					t.Errorf("String(%q) = %q still holds %q", tc.in, got, s)
				}
			}
		})
	}
}

func TestUIDPseudonyms(t *testing.T) {
	r := NewRedactor(false)
	a, b := r.uid(tagUID), r.uid(strings.ToLower(tagUID))
	if a != b || !strings.HasPrefix(a, "uid~") || strings.Contains(a, tagUID) {
		t.Errorf("uid(%s) = %q, uid(lower) = %q: want one stable pseudonym", tagUID, a, b)
	}
	if c := r.uid("04AAAAAAAAAAAA"); c == a {
		t.Errorf("two UIDs share the pseudonym %q", c)
	}
	if other := NewRedactor(false).uid(tagUID); other == a {
		t.Error("pseudonyms are the same across processes: a dictionary of UIDs would reverse them")
	}
	if got := NewRedactor(true).String("uid=" + tagUID); got != "uid="+tagUID {
		t.Errorf("KeepUIDs: String = %q", got)
	}
}

func TestSecretName(t *testing.T) {
	for _, n := range []string{"key", "sdm_file_read_key", "apiKey", "API-KEY", "token", "client_secret", "password", "cmac", "MAC", "authorization", "session_keys"} {
		if !SecretName(n) {
			t.Errorf("SecretName(%q) = false", n)
		}
	}
	for _, n := range []string{"key_id", "token_id", "token_name", "reader", "verdict", "uid", "latency_ms", "origin", "sw"} {
		if SecretName(n) {
			t.Errorf("SecretName(%q) = true", n)
		}
	}
}

type profileSpec struct {
	Name       string `json:"name"`
	Match      string `json:"match"`
	FileKey    string `json:"sdm_file_read_key"`
	MetaKey    string `json:"sdm_meta_read_key"`
	Originally string `json:"note"`
}

type tapObject struct{ uid, url string }

func (o tapObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("uid", o.uid)
	enc.AddString("url", o.url)
	enc.AddString("reader", "ACS ACR1252U")
	return nil
}

type stringer string

func (s stringer) String() string { return string(s) }

type panicStringer struct{}

func (*panicStringer) String() string { panic("nil receiver") }

// The redacting core in front of an observer: the fields that reach the
// outputs.
func TestRedactingCoreFields(t *testing.T) {
	obs, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(NewRedactingCore(NewRedactor(false), obs))
	spec := profileSpec{Name: "store", Match: "https://sdm.example/tag", FileKey: aesKey, MetaKey: aesKey, Originally: "key " + aesKey}
	var nilStringer *panicStringer
	log.With(zap.String("token", apiToken), zap.String("reader", "ACS ACR1252U")).Info("tap",
		zap.String("uid", tagUID),
		zap.String("url", sampleURL),
		zap.ByteString("body", []byte(`{"cmac":"`+cmac+`"}`)),
		zap.Stringer("where", stringer(sampleURL)),
		zap.Stringer("broken", nilStringer),
		zap.Error(fmt.Errorf("verify %s: %w", sampleURL, errors.New("bad mac"))),
		zap.Binary("session_material", []byte(aesKey[:16])),
		zap.Any("profile", spec),
		zap.Object("tap", tapObject{uid: tagUID, url: sampleURL}),
		zap.Strings("urls", []string{sampleURL, "https://ok.example/"}),
		zap.Inline(tapObject{uid: tagUID, url: boltCardURL}),
		zap.Int("latency_ms", 41),
		zap.String("api_key", "anything"),
	)
	if logs.Len() != 1 {
		t.Fatalf("%d entries, want 1", logs.Len())
	}
	e := logs.All()[0]
	m := e.ContextMap()
	text := fmt.Sprint(m)
	for _, s := range []string{aesKey, piccData, cmac, apiToken, tagUID, "F509EEA788E37E32", "anything"} {
		if strings.Contains(strings.ToUpper(text), strings.ToUpper(s)) {
			t.Errorf("redacted fields still hold %q: %s", s, text)
		}
	}
	if m["reader"] != "ACS ACR1252U" || m["latency_ms"] != int64(41) {
		t.Errorf("plain fields changed: reader=%v latency_ms=%v", m["reader"], m["latency_ms"])
	}
	if m["token"] != Redacted || m["api_key"] != Redacted {
		t.Errorf("token=%v api_key=%v, want %s", m["token"], m["api_key"], Redacted)
	}
	if s, _ := m["broken"].(string); !strings.Contains(s, "PANIC") {
		t.Errorf("nil Stringer: broken=%v, want a placeholder", m["broken"])
	}
	if p, _ := m["profile"].(map[string]any); p == nil || p["name"] != "store" || p["sdm_file_read_key"] != Redacted {
		t.Errorf("profile = %v", m["profile"])
	}
}

func TestRedactingCoreLevels(t *testing.T) {
	debug, debugLogs := observer.New(zapcore.DebugLevel)
	warn, warnLogs := observer.New(zapcore.WarnLevel)
	log := zap.New(NewRedactingCore(NewRedactor(false), debug, warn))
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	if debugLogs.Len() != 3 || warnLogs.Len() != 1 {
		t.Errorf("debug core got %d, warn core got %d entries; want 3 and 1", debugLogs.Len(), warnLogs.Len())
	}
	quiet := zap.New(NewRedactingCore(NewRedactor(false), warn))
	if ce := quiet.Check(zapcore.InfoLevel, "i"); ce != nil {
		t.Error("Check(info) on a warn-only core returned an entry")
	}
}

func TestFieldsUnchangedSliceIsShared(t *testing.T) {
	r := NewRedactor(false)
	in := []zapcore.Field{zap.String("reader", "x"), zap.Int("n", 1)}
	out := r.Fields(in)
	if &out[0] != &in[0] {
		t.Error("Fields copied a slice with nothing to redact")
	}
	allocs := testing.AllocsPerRun(100, func() { r.Fields(in) })
	if allocs != 0 {
		t.Errorf("Fields on clean fields: %v allocs, want 0", allocs)
	}
}

var longHex = regexp.MustCompile(`[0-9A-Fa-f]{32,}`)

func FuzzRedactString(f *testing.F) {
	for _, s := range []string{sampleURL, boltCardURL, apiToken, "Bearer " + leoKey, `{"cmac":"` + cmac + `"}`, "a=b&c=d", "x:y:z", "uid=" + tagUID} {
		f.Add(s)
	}
	r := NewRedactor(false)
	f.Fuzz(func(t *testing.T, s string) {
		got := r.String(s)
		if longHex.MatchString(got) {
			t.Errorf("String(%q) = %q keeps a long hex run", s, got)
		}
		if reToken.MatchString(strings.ReplaceAll(got, Redacted, "")) && reToken.MatchString(got) {
			t.Errorf("String(%q) = %q keeps a token", s, got)
		}
	})
}
