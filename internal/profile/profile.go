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
//	[profile.names]                     # parameter-name overrides
//	picc_data = "e"
//	cmac = "c"
package profile

import (
	"encoding/hex"
	"errors"
	"fmt"
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
}

// Profile is a compiled Spec.
type Profile struct {
	Name  string
	Match string
	*ntag424.Profile
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
	l, k, err := s.Parts(allowDefaultKeys)
	if err != nil {
		return Profile{}, err
	}
	p, err := ntag424.NewProfile(l, k)
	if err != nil {
		return Profile{}, err
	}
	return Profile{Name: s.Name, Match: s.Match, Profile: p}, nil
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
