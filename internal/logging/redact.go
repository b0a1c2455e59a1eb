package logging

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Redacted replaces a secret in a log line.
const Redacted = "[redacted]"

// Redactor takes secrets out of log entries. It always redacts CMACs, keys,
// tokens, passwords and API secrets, recognised both by the field name (any
// name ending in key, secret, token, password, mac, authorization, …) and
// by the shape of the value anywhere in a string:
//
//   - nfcd API tokens (nfcd_ + 43 characters): the 12-character token ID
//     that `nfcd token list` shows is kept, the rest redacted;
//   - Legitmark API keys (leo_…) and "Bearer …"/"Basic …" credentials;
//   - passwords in URLs (scheme://user:password@host);
//   - name=value and "name":"value" pairs with a secret name (cmac=…,
//     password=…, "sdm_file_read_key":"…");
//   - URL query values of exactly 16 hex digits (a truncated CMAC under
//     whatever parameter name a tag profile uses), also when punctuation
//     follows the URL;
//   - every run of 32 or more hex digits (AES keys, encrypted PICC data,
//     key material in any larger form).
//
// Tag UIDs (fields and parameters named uid) are replaced by a pseudonym,
// the same for the same UID within one process, unless KeepUIDs is set.
//
// Redaction follows the values into errors, Stringers, reflected structs
// and maps, and zap object and array marshalers, so a field type cannot
// carry a secret past it.
type Redactor struct {
	keepUIDs bool
	uidKey   [32]byte
}

// NewRedactor returns a Redactor; keepUIDs logs tag UIDs as they are.
func NewRedactor(keepUIDs bool) *Redactor {
	r := &Redactor{keepUIDs: keepUIDs}
	if _, err := rand.Read(r.uidKey[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return r
}

// secretSuffixes end the (lower-cased, separator-free) names of fields and
// parameters whose value is always redacted.
var secretSuffixes = []string{
	"key", "keys", "secret", "secrets", "token", "tokens",
	"password", "passwords", "passwd", "pwd", "passphrase",
	"mac", "macs", "authorization", "cookie", "credential", "credentials",
}

// hasNameSuffix reports whether name ends in suffix (lower-case letters
// and digits) once lower-cased and stripped of everything but letters and
// digits: "SDM_File-Read.Key" ends in "readkey". It does not allocate.
func hasNameSuffix(name, suffix string) bool {
	j := len(suffix)
	for i := len(name) - 1; i >= 0 && j > 0; i-- {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		default:
			continue
		}
		j--
		if c != suffix[j] {
			return false
		}
	}
	return j == 0
}

// SecretName reports whether a field or parameter called name holds a
// secret.
func SecretName(name string) bool {
	for _, s := range secretSuffixes {
		if hasNameSuffix(name, s) {
			return true
		}
	}
	return false
}

// uidName reports whether name holds tag UIDs (uid, tag_uid, uids).
func uidName(name string) bool {
	return hasNameSuffix(name, "uid") || hasNameSuffix(name, "uids")
}

// uid returns what is logged for a tag UID.
func (r *Redactor) uid(s string) string {
	if r.keepUIDs {
		return s
	}
	// A keyed hash: the same UID maps to the same pseudonym in this process,
	// and no dictionary of UIDs can reverse it without the random key.
	buf := make([]byte, 0, len(r.uidKey)+32)
	buf = append(buf, r.uidKey[:]...)
	buf = append(buf, strings.ToUpper(s)...)
	sum := sha256.Sum256(buf)
	return "uid~" + hex.EncodeToString(sum[:4])
}

var (
	reToken     = regexp.MustCompile(`nfcd_([A-Za-z0-9_-]{7})[A-Za-z0-9_-]{9,}`)
	reLeo       = regexp.MustCompile(`\bleo_[A-Za-z0-9_-]{8,}`)
	reAuth      = regexp.MustCompile(`(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+`)
	reUserinfo  = regexp.MustCompile(`(://[^:/?#@\s]*):[^@/?#\s]+@`)
	reJSONPair  = regexp.MustCompile(`"([A-Za-z0-9_.-]+)"(\s*:\s*)"((?:[^"\\]|\\.)*)"`)
	reLongHex   = regexp.MustCompile(`[0-9A-Fa-f]{32,}`)
	reCMACShape = regexp.MustCompile(`^[0-9A-Fa-f]{16}([^0-9A-Za-z]|$)`)
)

// hexRun reports whether s holds a run of at least n hex digits.
func hexRun(s string, n int) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			if run++; run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// hasCredentialWord reports whether s may hold "Bearer …" or "Basic …".
func hasCredentialWord(s string) bool {
	for i := 0; i+5 <= len(s); i++ {
		if c := s[i] | 0x20; (c == 'b') && (strings.EqualFold(s[i:i+5], "basic") || i+6 <= len(s) && strings.EqualFold(s[i:i+6], "bearer")) {
			return true
		}
	}
	return false
}

// replaceSubmatches replaces every match of re in s with f(submatches), in
// one pass over s.
func replaceSubmatches(re *regexp.Regexp, s string, f func(g []string) string) string {
	idx := re.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	g := make([]string, re.NumSubexp()+1)
	for _, m := range idx {
		for i := range g {
			if m[2*i] >= 0 {
				g[i] = s[m[2*i]:m[2*i+1]]
			} else {
				g[i] = ""
			}
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(f(g))
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

// valueStop ends a value in name=value or name: value text.
func valueStop(c byte) bool {
	switch c {
	case '&', ';', ' ', '\t', '\n', '\r', '"', '\'', ',', ')', ']', '}', '>':
		return true
	}
	return false
}

// rewritePairs finds each name<sep>value in s (name: letters, digits and
// _.-; value: up to whitespace, quote, &, ;, comma or closing bracket;
// after ':' leading blanks are skipped) and replaces the value with
// f(the character before the name or 0, name, value) where f says so.
func rewritePairs(s string, sep byte, skipBlanks bool, f func(pre byte, name, val string) (string, bool)) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != sep {
			continue
		}
		j := i
		for j > last && isNameChar(s[j-1]) {
			j--
		}
		if j == i || (j == last && j > 0 && isNameChar(s[j-1])) {
			continue
		}
		var pre byte
		if j > 0 {
			pre = s[j-1]
		}
		k := i + 1
		for skipBlanks && k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		e := k
		for e < len(s) && !valueStop(s[e]) {
			e++
		}
		repl, ok := f(pre, s[j:i], s[k:e])
		if !ok {
			continue
		}
		b.WriteString(s[last:k])
		b.WriteString(repl)
		last, i = e, e-1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// String returns s with every secret shape redacted. Each rule runs only
// when s holds the character it needs, so that ordinary text costs a scan.
func (r *Redactor) String(s string) string {
	// Credentials after a scheme word first, so that the name=value rule
	// below does not stop at the space in "Authorization=Bearer …".
	if hasCredentialWord(s) {
		s = reAuth.ReplaceAllString(s, "${1}${2}"+Redacted)
	}
	if strings.IndexByte(s, '"') >= 0 {
		s = replaceSubmatches(reJSONPair, s, func(g []string) string {
			switch {
			case SecretName(g[1]):
				return `"` + g[1] + `"` + g[2] + `"` + Redacted + `"`
			case uidName(g[1]) && !r.keepUIDs:
				return `"` + g[1] + `"` + g[2] + `"` + r.uid(g[3]) + `"`
			}
			return g[0]
		})
	}
	if strings.IndexByte(s, '=') >= 0 {
		s = rewritePairs(s, '=', false, func(pre byte, name, val string) (string, bool) {
			switch {
			case val == "":
				return "", false
			case SecretName(name):
				return Redacted, true
			case uidName(name) && !r.keepUIDs:
				return r.uid(val), true
			case (pre == '?' || pre == '&') && reCMACShape.MatchString(val):
				return Redacted + val[16:], true
			}
			return "", false
		})
	}
	if strings.IndexByte(s, ':') >= 0 {
		s = rewritePairs(s, ':', true, func(_ byte, name, val string) (string, bool) {
			if val == "" || !SecretName(name) || strings.HasPrefix(val, "[redacted") {
				return "", false
			}
			return Redacted, true
		})
		if strings.IndexByte(s, '@') >= 0 {
			s = reUserinfo.ReplaceAllString(s, "${1}:"+Redacted+"@")
		}
	}
	if strings.Contains(s, "nfcd_") {
		s = reToken.ReplaceAllString(s, "nfcd_${1}"+Redacted)
	}
	if strings.Contains(s, "leo_") {
		s = reLeo.ReplaceAllString(s, "leo_"+Redacted)
	}
	if hexRun(s, 32) {
		s = reLongHex.ReplaceAllString(s, Redacted)
	}
	return s
}

// Field returns f with its secrets redacted, and whether it changed.
func (r *Redactor) Field(f zapcore.Field) (zapcore.Field, bool) {
	switch f.Type {
	case zapcore.SkipType, zapcore.NamespaceType:
		return f, false
	}
	if SecretName(f.Key) {
		return zap.String(f.Key, Redacted), true
	}
	if uidName(f.Key) && !r.keepUIDs {
		return r.uidField(f), true
	}
	switch f.Type {
	case zapcore.StringType:
		if s := r.String(f.String); s != f.String {
			return zap.String(f.Key, s), true
		}
	case zapcore.ByteStringType:
		b, _ := f.Interface.([]byte)
		if s := r.String(string(b)); s != string(b) {
			return zap.String(f.Key, s), true
		}
	case zapcore.StringerType:
		return zap.String(f.Key, r.String(safeString(f.Interface))), true
	case zapcore.ErrorType:
		// Always replaced: zap would also print "errorVerbose" (a %+v
		// with stack and wrapped messages) that String has not seen.
		err, _ := f.Interface.(error)
		msg := "<nil>"
		if err != nil {
			msg = safeString(errorStringer{err})
		}
		return zap.String(f.Key, r.String(msg)), true
	case zapcore.BinaryType:
		if b, _ := f.Interface.([]byte); len(b) == 16 { // an AES key's size
			return zap.String(f.Key, Redacted), true
		}
	case zapcore.ReflectType, zapcore.ObjectMarshalerType, zapcore.ArrayMarshalerType:
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		v, changed := r.walk(enc.Fields[f.Key])
		if changed {
			return zap.Any(f.Key, v), true
		}
	}
	return f, false
}

func (r *Redactor) uidField(f zapcore.Field) zapcore.Field {
	switch f.Type {
	case zapcore.StringType:
		return zap.String(f.Key, r.uid(f.String))
	case zapcore.StringerType:
		return zap.String(f.Key, r.uid(safeString(f.Interface)))
	case zapcore.BinaryType, zapcore.ByteStringType:
		b, _ := f.Interface.([]byte)
		if f.Type == zapcore.ByteStringType {
			return zap.String(f.Key, r.uid(string(b)))
		}
		return zap.String(f.Key, r.uid(hex.EncodeToString(b)))
	}
	return zap.String(f.Key, Redacted)
}

// Fields returns fields redacted; the slice is fields itself when nothing
// changed. Inline marshalers are expanded into their fields.
func (r *Redactor) Fields(fields []zapcore.Field) []zapcore.Field {
	var out []zapcore.Field
	for i, f := range fields {
		var repl []zapcore.Field
		if f.Type == zapcore.InlineMarshalerType {
			repl = r.inline(f)
		} else if g, changed := r.Field(f); changed {
			repl = []zapcore.Field{g}
		} else if out == nil {
			continue
		} else {
			repl = []zapcore.Field{f}
		}
		if out == nil {
			out = append(make([]zapcore.Field, 0, len(fields)+len(repl)), fields[:i]...)
		}
		out = append(out, repl...)
	}
	if out == nil {
		return fields
	}
	return out
}

func (r *Redactor) inline(f zapcore.Field) []zapcore.Field {
	enc := zapcore.NewMapObjectEncoder()
	f.AddTo(enc)
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]zapcore.Field, 0, len(keys))
	for _, k := range keys {
		v, _ := r.walkKV(k, enc.Fields[k])
		out = append(out, zap.Any(k, v))
	}
	return out
}

// walkKV redacts the value v found under key.
func (r *Redactor) walkKV(key string, v any) (any, bool) {
	switch {
	case SecretName(key):
		return Redacted, true
	case uidName(key) && !r.keepUIDs:
		if s, ok := v.(string); ok {
			return r.uid(s), true
		}
		return Redacted, true
	}
	return r.walk(v)
}

// walk redacts a value produced by zap's map encoder or by decoding JSON.
func (r *Redactor) walk(v any) (any, bool) {
	switch v := v.(type) {
	case nil, bool, json.Number, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		uintptr, float32, float64, complex64, complex128, time.Duration, time.Time:
		return v, false
	case string:
		s := r.String(v)
		return s, s != v
	case []byte:
		s := r.String(string(v))
		return s, s != string(v)
	case map[string]any:
		changed := false
		out := make(map[string]any, len(v))
		for k, e := range v {
			w, c := r.walkKV(k, e)
			out[k], changed = w, changed || c
		}
		return out, changed
	case []any:
		changed := false
		out := make([]any, len(v))
		for i, e := range v {
			w, c := r.walk(e)
			out[i], changed = w, changed || c
		}
		return out, changed
	}
	// Reflected values: look at them as zap would print them, in JSON.
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<unencodable %T>", v), true
	}
	var decoded any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&decoded); err != nil {
		return fmt.Sprintf("<unencodable %T>", v), true
	}
	w, changed := r.walk(decoded)
	if !changed {
		return v, false
	}
	return w, true
}

type errorStringer struct{ error }

func (e errorStringer) String() string { return e.Error() }

// safeString calls String or Error the way zap does: a panic (a nil
// pointer receiver, typically) becomes a placeholder, not a crash.
func safeString(v any) (s string) {
	defer func() {
		if p := recover(); p != nil {
			s = fmt.Sprintf("<PANIC=%v>", p)
		}
	}()
	switch v := v.(type) {
	case fmt.Stringer:
		return v.String()
	case error:
		return v.Error()
	}
	return fmt.Sprint(v)
}

// redactCore redacts each entry once and hands it to the cores that take
// its level. It holds the cores itself rather than wrapping a Tee: a Tee
// writes every entry to every core, whatever their levels.
type redactCore struct {
	r     *Redactor
	cores []zapcore.Core
}

// NewRedactingCore returns a core that writes each entry, with its message
// and fields redacted by r, to those of cores that are enabled at its
// level.
func NewRedactingCore(r *Redactor, cores ...zapcore.Core) zapcore.Core {
	return &redactCore{r: r, cores: cores}
}

func (c *redactCore) Enabled(l zapcore.Level) bool {
	for _, k := range c.cores {
		if k.Enabled(l) {
			return true
		}
	}
	return false
}

func (c *redactCore) With(fields []zapcore.Field) zapcore.Core {
	fields = c.r.Fields(fields)
	cores := make([]zapcore.Core, len(c.cores))
	for i, k := range c.cores {
		cores[i] = k.With(fields)
	}
	return &redactCore{r: c.r, cores: cores}
}

func (c *redactCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *redactCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	e.Message = c.r.String(e.Message)
	fields = c.r.Fields(fields)
	var errs []error
	for _, k := range c.cores {
		if k.Enabled(e.Level) {
			if err := k.Write(e, fields); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (c *redactCore) Sync() error {
	var errs []error
	for _, k := range c.cores {
		if err := k.Sync(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
