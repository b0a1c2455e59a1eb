// Package profile loads tag profiles: how a batch of NTAG 424 DNA tags was
// personalised (SUN layout and keys) and which URLs it applies to. Profiles
// come from a TOML file so that keys stay out of shell history and process
// listings.
//
// File format (every key but mode and sdm_file_read_key is optional):
//
//	[[profile]]
//	name = "store-tags"
//	match = "https://sdm.example/tag"   # URL prefix; "" matches every URL
//	mode = "enc"                        # plain | enc | encfile
//	crypto = "aes"                      # aes | lrp
//	mac_input_start = "cmac"            # parameter whose value starts the MAC input
//	tt_param = false                    # TagTamper status as a URL parameter
//	# tt_in_enc_offset = 0              # TagTamper status inside SDMENCFileData
//	# ctr = true                        # plain mode: counter mirrored
//	sdm_file_read_key = "00000000000000000000000000000000"
//	sdm_meta_read_key = "00000000000000000000000000000000"
//	# diversify = true                  # sdm_file_read_key is an AN10922 master key
//	# div_input = "3042F5"              # appended to the UID as diversification input
//	# Personalisation (nfcd tag provision / reset) only:
//	# app_master_key = "…"              # the tag's key 0 after personalisation
//	# sdm_meta_read_key_no = 1          # key slot of sdm_meta_read_key (1-4)
//	# sdm_file_read_key_no = 2          # key slot of sdm_file_read_key (1-4)
//	# key3 = "…"                        # keys 3 and 4: left as they are unless given
//	# key4 = "…"
//	[profile.names]                     # parameter-name overrides
//	picc_data = "e"
//	cmac = "c"
//
// Two optional keys say how the kiosk page presents the profile's tags;
// they play no part in verification:
//
//	display_name = "Acme running shoes" # product or brand shown with a verdict
//	logo_url = "https://brand.example/logo.svg"  # http(s) image, shown beside it
package profile

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/tomlfile"
)

// ErrNoMatch reports that no profile applies to a URL.
var ErrNoMatch = errors.New("profile: no profile matches the URL")

// Spec is one profile as written in a file or sent in a batch line.
type Spec struct {
	Name  string `toml:"name"`
	Match string `toml:"match"`
	ntag424.LayoutSpec
	FileReadKey string `toml:"sdm_file_read_key"`
	MetaReadKey string `toml:"sdm_meta_read_key"`
	Diversify   bool   `toml:"diversify"`
	DivInput    string `toml:"div_input"`

	// Personalisation: the tag's other application keys and the slots of
	// the two SDM keys. Verification does not use them.
	AppMasterKey  string `toml:"app_master_key"`
	MetaReadKeyNo *int   `toml:"sdm_meta_read_key_no"`
	FileReadKeyNo *int   `toml:"sdm_file_read_key_no"`
	Key3          string `toml:"key3"`
	Key4          string `toml:"key4"`

	// Display is how the kiosk page presents the profile's tags.
	Display
}

// Default key slots of the SDM keys, as in AN12196 and the Bolt Card
// convention: SDMMetaReadKey in key 1, SDMFileReadKey in key 2.
const (
	DefaultMetaReadKeyNo = 1
	DefaultFileReadKeyNo = 2
)

// TagKeys are the application keys a profile puts on its tags (key 0 and
// the slots of the SDM keys), for personalisation. With Diversify, AppMaster,
// Key3 and Key4 are AN10922 master keys like Keys.FileRead; the
// SDMMetaReadKey stays one key for all tags, as it must: a verifier decrypts
// PICCData, and so learns the UID, with it (NT4H2421Gx §9.3.4).
type TagKeys struct {
	// AppMaster is key 0 after personalisation.
	AppMaster ntag424.Key
	// MetaReadNo and FileReadNo are the key slots of SDMMetaReadKey and
	// SDMFileReadKey (1-4).
	MetaReadNo, FileReadNo byte
	// Key3 and Key4 are the new values of keys 3 and 4; nil leaves a key
	// as it is.
	Key3, Key4 *ntag424.Key
}

// TagKeys decodes the personalisation keys of s. app_master_key is
// required; the SDM key slots must be 1-4 and distinct (in enc modes,
// where both keys are used), and key3 or key4 must not name a slot an SDM
// key takes. Key 0 must differ from the SDM keys: whoever verifies SUNs
// holds those and must not be able to reconfigure the tag. Errors are
// *KeyError values without key material.
func (s Spec) TagKeys() (TagKeys, error) {
	var tk TagKeys
	l, k, err := s.Parts(false)
	if err != nil {
		return tk, err
	}
	if tk.AppMaster, err = ParseKey("app_master_key", s.AppMasterKey, false); err != nil {
		return tk, err
	}
	slot := func(field string, p *int, def int) (byte, error) {
		if p == nil {
			return byte(def), nil
		}
		if *p < 1 || *p > 4 {
			return 0, &KeyError{Field: field, Msg: "want a key number 1-4"}
		}
		return byte(*p), nil
	}
	if tk.MetaReadNo, err = slot("sdm_meta_read_key_no", s.MetaReadKeyNo, DefaultMetaReadKeyNo); err != nil {
		return tk, err
	}
	if tk.FileReadNo, err = slot("sdm_file_read_key_no", s.FileReadKeyNo, DefaultFileReadKeyNo); err != nil {
		return tk, err
	}
	enc := l.Mode != ntag424.ModePlain
	if enc && tk.MetaReadNo == tk.FileReadNo {
		return tk, &KeyError{Field: "sdm_meta_read_key_no", Msg: "must differ from sdm_file_read_key_no"}
	}
	for _, x := range []struct {
		field string
		no    byte
		hex   string
		dst   **ntag424.Key
	}{{"key3", 3, s.Key3, &tk.Key3}, {"key4", 4, s.Key4, &tk.Key4}} {
		if x.hex == "" {
			continue
		}
		if x.no == tk.FileReadNo || enc && x.no == tk.MetaReadNo {
			return tk, &KeyError{Field: x.field, Msg: "that slot holds an SDM key"}
		}
		key, err := ParseKey(x.field, x.hex, false)
		if err != nil {
			return tk, err
		}
		*x.dst = &key
	}
	if tk.AppMaster == k.FileRead || enc && tk.AppMaster == k.MetaRead {
		return tk, &KeyError{Field: "app_master_key", Msg: "must differ from the SDM keys"}
	}
	return tk, nil
}

// Display is how the kiosk page presents a profile's tags: the product or
// brand and its logo. Both are optional and unsigned; they are shown to
// people, never used to judge a tap.
type Display struct {
	DisplayName string `toml:"display_name"`
	// LogoURL is an absolute http(s) URL of an image.
	LogoURL string `toml:"logo_url"`
}

// MaxDisplayName bounds Display.DisplayName.
const MaxDisplayName = 80

// check validates d.
func (d Display) check() error {
	if len(d.DisplayName) > MaxDisplayName {
		return fmt.Errorf("profile: display_name: longer than %d bytes", MaxDisplayName)
	}
	if d.LogoURL == "" {
		return nil
	}
	u, err := url.Parse(d.LogoURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errors.New("profile: logo_url: want an absolute http or https URL")
	}
	return nil
}

// Profile is a compiled Spec.
type Profile struct {
	Name  string
	Match string
	*ntag424.Profile
	Display Display
}

// Set is an ordered list of profiles, matched by URL prefix.
type Set []Profile

// KeyError reports a missing or malformed key. It never carries key bytes.
type KeyError struct {
	Field string
	Msg   string
}

func (e *KeyError) Error() string { return "profile: " + e.Field + ": " + e.Msg }

// ParseKey decodes a 32-hex-digit AES-128 key. An empty string is the
// factory default all-zero key only when allowEmpty is set.
func ParseKey(field, s string, allowEmpty bool) (ntag424.Key, error) {
	var k ntag424.Key
	if s == "" {
		if allowEmpty {
			return k, nil
		}
		return k, &KeyError{Field: field, Msg: "missing"}
	}
	if len(s) != 32 {
		return k, &KeyError{Field: field, Msg: fmt.Sprintf("want 32 hex digits, got %d", len(s))}
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, &KeyError{Field: field, Msg: "not hex"}
	}
	return k, nil
}

// Compile validates s and builds its ntag424.Profile. Missing keys are
// errors unless allowDefaultKeys is set, in which case they are the factory
// all-zero keys.
func (s Spec) Compile(allowDefaultKeys bool) (Profile, error) {
	if err := s.Display.check(); err != nil {
		return Profile{}, err
	}
	l, k, err := s.Parts(allowDefaultKeys)
	if err != nil {
		return Profile{}, err
	}
	p, err := ntag424.NewProfile(l, k)
	if err != nil {
		return Profile{}, err
	}
	return Profile{Name: s.Name, Match: s.Match, Profile: p, Display: s.Display}, nil
}

// Parts decodes the layout and keys of s without compiling them, for
// callers that personalise tags (the virtual tag) rather than verify them.
func (s Spec) Parts(allowDefaultKeys bool) (ntag424.Layout, ntag424.Keys, error) {
	var k ntag424.Keys
	l, err := s.LayoutSpec.Layout()
	if err != nil {
		return l, k, err
	}
	if k.FileRead, err = ParseKey("sdm_file_read_key", s.FileReadKey, allowDefaultKeys); err != nil {
		return l, k, err
	}
	if l.Mode != ntag424.ModePlain {
		if k.MetaRead, err = ParseKey("sdm_meta_read_key", s.MetaReadKey, allowDefaultKeys); err != nil {
			return l, k, err
		}
	}
	k.Diversify = s.Diversify
	if s.DivInput != "" {
		if k.DivInput, err = hex.DecodeString(s.DivInput); err != nil {
			return l, k, &KeyError{Field: "div_input", Msg: "not hex"}
		}
	}
	return l, k, nil
}

// file is the TOML document.
type file struct {
	Profile []Spec `toml:"profile"`
}

// Load reads a profile file. Errors name the file and the profile but never
// quote key material.
func Load(path string) (Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes a profile file's contents; name is used in errors.
func Parse(name string, b []byte) (Set, error) {
	specs, err := ParseSpecs(name, b)
	if err != nil {
		return nil, err
	}
	set := make(Set, 0, len(specs))
	for i, s := range specs {
		p, err := s.Compile(false)
		if err != nil {
			return nil, fmt.Errorf("profile: %s: profile %s: %w", name, s.label(i), err)
		}
		set = append(set, p)
	}
	return set, nil
}

// LoadSpecs reads a profile file without compiling it.
func LoadSpecs(path string) ([]Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return ParseSpecs(path, b)
}

// ParseSpecs decodes a profile file's contents without compiling them.
func ParseSpecs(name string, b []byte) ([]Spec, error) {
	var f file
	if err := tomlfile.Decode(name, b, &f); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if len(f.Profile) == 0 {
		return nil, fmt.Errorf("profile: %s: no [[profile]] table", name)
	}
	return f.Profile, nil
}

func (s Spec) label(i int) string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("#%d", i+1)
}

// Match returns the first profile whose Match prefix the URL starts with,
// ignoring the scheme's case and the host's case.
func (s Set) Match(rawURL string) (*Profile, error) {
	for i := range s {
		if hasPrefixFold(rawURL, s[i].Match) {
			return &s[i], nil
		}
	}
	return nil, ErrNoMatch
}

// hasPrefixFold reports whether url starts with prefix, comparing the
// scheme and authority case-insensitively and the rest exactly.
func hasPrefixFold(url, prefix string) bool {
	if len(url) < len(prefix) {
		return false
	}
	// Scheme and host end at the first '/' after "://".
	hostEnd := len(prefix)
	if i := strings.Index(prefix, "://"); i >= 0 {
		if j := strings.IndexByte(prefix[i+3:], '/'); j >= 0 {
			hostEnd = i + 3 + j
		}
	}
	return strings.EqualFold(url[:hostEnd], prefix[:hostEnd]) && url[hostEnd:len(prefix)] == prefix[hostEnd:]
}
