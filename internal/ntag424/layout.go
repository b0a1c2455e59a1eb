package ntag424

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode says which SDM data a tag mirrors into its URL (NT4H2421Gx §9.3.1).
type Mode uint8

// Mirror modes.
const (
	// ModePlain mirrors the UID and SDMReadCtr as plain hex ("uid", "ctr").
	ModePlain Mode = iota + 1
	// ModeEnc mirrors encrypted PICCData ("picc_data").
	ModeEnc
	// ModeEncFile mirrors encrypted PICCData and SDMENCFileData ("enc").
	ModeEncFile
)

var modeNames = [...]string{ModePlain: "plain", ModeEnc: "enc", ModeEncFile: "encfile"}

func (m Mode) String() string {
	if m >= ModePlain && m <= ModeEncFile {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode parses "plain", "enc" or "encfile".
func ParseMode(s string) (Mode, error) {
	for m := ModePlain; m <= ModeEncFile; m++ {
		if modeNames[m] == s {
			return m, nil
		}
	}
	// The value is never quoted: a misplaced key could sit in it.
	return 0, formatErr("mode", "must be plain, enc or encfile")
}

// Crypto is the tag's secure messaging cipher suite.
type Crypto uint8

// Cipher suites.
const (
	// CryptoAES is AES-128 with AES-CMAC (the factory default).
	CryptoAES Crypto = iota
	// CryptoLRP is the Leakage Resilient Primitive of NXP AN12304.
	CryptoLRP
)

func (c Crypto) String() string {
	switch c {
	case CryptoAES:
		return "aes"
	case CryptoLRP:
		return "lrp"
	}
	return "Crypto(" + strconv.Itoa(int(c)) + ")"
}

// ParseCrypto parses "aes" or "lrp"; the empty string means AES.
func ParseCrypto(s string) (Crypto, error) {
	switch s {
	case "aes", "":
		return CryptoAES, nil
	case "lrp":
		return CryptoLRP, nil
	}
	return 0, formatErr("crypto", "must be aes or lrp")
}

// Names are the URL parameter names a tag was personalised with. An empty
// field means the default, which is the field's own name in lower case
// ("uid", "ctr", "cmac", "picc_data", "enc", "tt").
type Names struct {
	UID      string `json:"uid,omitempty" toml:"uid"`
	Ctr      string `json:"ctr,omitempty" toml:"ctr"`
	CMAC     string `json:"cmac,omitempty" toml:"cmac"`
	PICCData string `json:"picc_data,omitempty" toml:"picc_data"`
	Enc      string `json:"enc,omitempty" toml:"enc"`
	TT       string `json:"tt,omitempty" toml:"tt"`
}

// withDefaults returns n with empty names replaced by the defaults.
func (n Names) withDefaults() Names {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&n.UID, "uid")
	def(&n.Ctr, "ctr")
	def(&n.CMAC, "cmac")
	def(&n.PICCData, "picc_data")
	def(&n.Enc, "enc")
	def(&n.TT, "tt")
	return n
}

// byLogical maps a logical field name ("uid", "enc", ...) to its parameter name.
func (n Names) byLogical(s string) (string, bool) {
	switch s {
	case "uid":
		return n.UID, true
	case "ctr":
		return n.Ctr, true
	case "cmac":
		return n.CMAC, true
	case "picc_data":
		return n.PICCData, true
	case "enc":
		return n.Enc, true
	case "tt":
		return n.TT, true
	}
	return "", false
}

// DefaultMACInputStart is the MACInputStart meaning an empty SDMMAC input
// (SDMMACInputOffset = SDMMACOffset).
const DefaultMACInputStart = "cmac"

// Layout says how a SUN URL was laid out when the tag was personalised.
type Layout struct {
	Mode   Mode
	Crypto Crypto
	// MACInputStart names the URL parameter whose value starts the SDMMAC
	// input (SDMMACInputOffset); the input runs up to the first character of
	// the MAC value (SDMMACOffset). "" and "cmac" mean an empty input.
	MACInputStart string
	Names         Names
	// TTParam says the TagTamper status is mirrored as a 2-character
	// parameter. It is only trustworthy inside the MAC input window.
	TTParam bool
	// TTInEnc says the TagTamper status sits at byte TTInEncOffset of the
	// decrypted SDMENCFileData (ModeEncFile only).
	TTInEnc       bool
	TTInEncOffset int
	// NoCtr says a plain mirror carries no SDMReadCtr (UID-only tags).
	NoCtr bool
}

// validate checks what can be checked without a URL and returns the layout
// with default names filled in.
func (l Layout) validate() (Layout, error) {
	if l.Mode < ModePlain || l.Mode > ModeEncFile {
		return l, formatErr("mode", "missing or unknown mode")
	}
	if l.Crypto != CryptoAES && l.Crypto != CryptoLRP {
		return l, formatErr("crypto", "unknown cipher suite")
	}
	l.Names = l.Names.withDefaults()
	if l.MACInputStart == "" {
		l.MACInputStart = DefaultMACInputStart
	}
	if err := l.checkNames(); err != nil {
		return l, err
	}
	if l.NoCtr && l.Mode != ModePlain {
		return l, formatErr("ctr", "only a plain mirror can leave the counter out; enc modes say it in PICCDataTag")
	}
	if l.TTInEnc {
		if l.Mode != ModeEncFile {
			return l, formatErr("tt_in_enc_offset", "needs mode encfile")
		}
		if l.TTInEncOffset < 0 || l.TTInEncOffset > MaxFileData-2 {
			return l, formatErr("tt_in_enc_offset", "out of range")
		}
	}
	if l.emptyWindow() {
		// NT4H2421Gx §9.3.6: only data inside the MAC input is authenticated.
		if l.TTParam {
			return l, formatErr("tt", "TagTamper status mirrored outside the MAC input window")
		}
		if l.Mode == ModeEncFile {
			return l, formatErr("enc", "SDMENCFileData outside the MAC input window")
		}
	}
	return l, nil
}

// MaxNameLen bounds a URL parameter name.
const MaxNameLen = 64

// checkNames checks the parameter names the layout reads: each is a
// plain query-string name (no '&', '=', '#', '?', '%', spaces or control
// characters, at most MaxNameLen bytes), and no two are the same, so that
// every value is found where the tag put it. Errors never quote a name.
func (l *Layout) checkNames() error {
	type named struct{ field, name string }
	used := []named{{"names.cmac", l.Names.CMAC}}
	if l.Mode == ModePlain {
		used = append(used, named{"names.uid", l.Names.UID})
		if !l.NoCtr {
			used = append(used, named{"names.ctr", l.Names.Ctr})
		}
	} else {
		used = append(used, named{"names.picc_data", l.Names.PICCData})
		if l.Mode == ModeEncFile {
			used = append(used, named{"names.enc", l.Names.Enc})
		}
	}
	if l.TTParam {
		used = append(used, named{"names.tt", l.Names.TT})
	}
	for i, u := range used {
		if len(u.name) > MaxNameLen {
			return formatErr(u.field, fmt.Sprintf("longer than %d bytes", MaxNameLen))
		}
		for j := 0; j < len(u.name); j++ {
			if c := u.name[j]; c <= ' ' || c == 0x7f || strings.IndexByte("&=#?%+", c) >= 0 {
				return formatErr(u.field, "must not contain '&', '=', '#', '?', '%', '+', spaces or control characters")
			}
		}
		for _, o := range used[:i] {
			if o.name == u.name {
				return formatErr(u.field, "is the same parameter name as "+o.field)
			}
		}
	}
	if !l.emptyWindow() {
		n := l.MACInputStart
		if len(n) > MaxNameLen || strings.ContainsAny(n, "&=#?%+ \t\r\n") {
			return formatErr("mac_input_start", "not a URL parameter name")
		}
	}
	return nil
}

// emptyWindow reports whether the SDMMAC input is empty.
func (l *Layout) emptyWindow() bool {
	return l.MACInputStart == DefaultMACInputStart || l.MACInputStart == l.Names.CMAC
}

// LayoutSpec is the textual form of a Layout, as it appears in JSON
// (`nfcd verify --batch`, the test vectors) and in TOML profile files.
type LayoutSpec struct {
	Mode          string `json:"mode" toml:"mode"`
	Crypto        string `json:"crypto,omitempty" toml:"crypto"`
	MACInputStart string `json:"mac_input_start,omitempty" toml:"mac_input_start"`
	Names         Names  `json:"names" toml:"names"`
	TTParam       bool   `json:"tt_param,omitempty" toml:"tt_param"`
	TTInEncOffset *int   `json:"tt_in_enc_offset,omitempty" toml:"tt_in_enc_offset"`
	// Ctr says a plain mirror carries the counter; nil means true.
	Ctr *bool `json:"ctr,omitempty" toml:"ctr"`
}

// Layout converts the spec, checking the enumerations.
func (s LayoutSpec) Layout() (Layout, error) {
	m, err := ParseMode(s.Mode)
	if err != nil {
		return Layout{}, err
	}
	c, err := ParseCrypto(s.Crypto)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Mode: m, Crypto: c, MACInputStart: s.MACInputStart, Names: s.Names, TTParam: s.TTParam}
	if s.TTInEncOffset != nil {
		l.TTInEnc, l.TTInEncOffset = true, *s.TTInEncOffset
	}
	if s.Ctr != nil && !*s.Ctr {
		if m != ModePlain {
			return Layout{}, formatErr("ctr", "only a plain mirror can leave the counter out")
		}
		l.NoCtr = true
	}
	return l, nil
}
