package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
)

// InspectOptions tune Inspect.
type InspectOptions struct {
	// Profiles verify the tag's SUN, if it has one.
	Profiles profile.Set
	// Targets, by profile name, give the key 0 of a profile (with
	// app_master_key) to prove when the SUN verifies under it.
	Targets map[string]*Target
	// Key0, if set, is authenticated with (a wrong key counts as a failed
	// authentication on the tag, as any would).
	Key0 *ntag424.Key
	// Journal, if set, is asked for the tag's record.
	Journal Journal
	// Rand supplies RndA; nil means crypto/rand.
	Rand io.Reader
}

// Report is what Inspect found on a tag. It holds no key material.
type Report struct {
	UID      string `json:"uid,omitempty"`
	RandomID bool   `json:"random_id,omitempty"`
	// Hardware and Software are "major.minor" versions; Storage the size
	// byte (11h: 256 B < storage < 512 B).
	Hardware    string `json:"hardware,omitempty"`
	Software    string `json:"software,omitempty"`
	Storage     string `json:"storage,omitempty"`
	Produced    string `json:"produced,omitempty"` // year-Www
	TagTamper   bool   `json:"tagtamper,omitempty"`
	Originality string `json:"originality"`
	// Files are the settings of the CC, NDEF and proprietary files.
	Files []FileReport `json:"files"`
	// KeyVersions by key number; -1 where unreadable.
	KeyVersions [5]int `json:"key_versions"`
	// URL is the NDEF URL a tap reads, and SUN what became of it.
	URL string     `json:"url,omitempty"`
	SUN *SUNReport `json:"sun,omitempty"`
	// Key0 is what authentication with key 0 showed: "not tried",
	// "--key0 accepted", "--key0 refused", "profile <name>'s accepted",
	// "profile <name>'s refused".
	Key0 string `json:"key0"`
	// Crypto is the secure messaging the tag runs, when an
	// authentication showed it ("aes", "lrp").
	Crypto  string  `json:"crypto,omitempty"`
	Journal *Record `json:"journal,omitempty"`
	// Personalised is a one-line summary.
	Summary string `json:"summary"`
}

// FileReport is one file's settings, or why they could not be read.
type FileReport struct {
	File     byte                  `json:"file"`
	Settings *ntag424.FileSettings `json:"settings,omitempty"`
	Text     string                `json:"text,omitempty"`
	Error    string                `json:"error,omitempty"`
}

// SUNReport says whether the URL carries a SUN and which profile
// verifies it, in nfcd's verdict vocabulary (internal/verdict).
type SUNReport struct {
	Profile  string `json:"profile,omitempty"`
	Verdict  string `json:"verdict"`
	Verified bool   `json:"verified"`
	Reason   string `json:"reason"`
	Detail   string `json:"detail,omitempty"`
	Ctr      uint32 `json:"ctr,omitempty"`
}

// Inspect reads what can be read of the tag on card without changing it
// (beyond the SDMReadCtr a read advances, and a failed-authentication
// count if Key0 is wrong): GetVersion, the originality signature, the NDEF
// URL and its SUN, the three files' settings and the key versions.
func Inspect(ctx context.Context, card Card, opts InspectOptions) (*Report, error) {
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	c := &countingCard{c: card}
	rep := &Report{KeyVersions: [5]int{-1, -1, -1, -1, -1}, Key0: "not tried"}
	tr, err := ntag424.ReadTag(ctx, c, ntag424.ReadOptions{Originality: true})
	if err != nil && !errors.Is(err, ntag424.ErrSecurity) {
		return nil, err
	}
	rep.URL = tr.URL
	rep.Originality = tr.Originality.String()
	if v := tr.Version; v != nil {
		rep.Hardware = fmt.Sprintf("%X.%02X", v.Hardware.Major, v.Hardware.Minor)
		rep.Software = fmt.Sprintf("%X.%02X", v.Software.Major, v.Software.Minor)
		rep.Storage = fmt.Sprintf("%02Xh", v.Hardware.StorageSize)
		rep.TagTamper = v.IsTagTamper()
		rep.RandomID = v.RandomID()
		if y, w, ok := v.Produced(); ok {
			rep.Produced = fmt.Sprintf("%d-W%02d", y, w)
		}
		if !rep.RandomID {
			rep.UID = strings.ToUpper(hex.EncodeToString(v.UID))
		}
		if !v.IsNTAG424DNA() {
			rep.Summary = "not an NTAG 424 DNA"
			return rep, nil
		}
	} else {
		if err := ntag424.SelectApplication(ctx, c); err != nil {
			return nil, err
		}
	}
	for _, f := range []ntag424.FileNo{ntag424.FileCC, ntag424.FileNDEF, ntag424.FileProprietary} {
		fr := FileReport{File: byte(f)}
		if fs, err := ntag424.ReadFileSettings(ctx, c, f); err != nil {
			fr.Error = errDetail(err)
		} else {
			fr.Settings, fr.Text = fs, describeSettings(fs)
		}
		rep.Files = append(rep.Files, fr)
	}
	for n := range byte(5) {
		if v, err := ntag424.ReadKeyVersion(ctx, c, n); err == nil {
			rep.KeyVersions[n] = int(v)
		}
	}
	var verifiedBy *Target
	if tr.URL != "" {
		o := opts.Profiles.Verify(tr.URL)
		rep.SUN = &SUNReport{Profile: o.Profile, Verdict: o.Verdict, Verified: o.Authentic(), Reason: o.Reason, Detail: o.Detail, Ctr: o.Result.Ctr.Value}
		if o.Authentic() {
			if rep.UID == "" {
				rep.UID = strings.ToUpper(hex.EncodeToString(o.Result.UID[:]))
			}
			verifiedBy = opts.Targets[o.Profile]
		}
	}
	// Key 0: the given one, else the key of the profile the SUN verified under.
	key, label := opts.Key0, "--key0"
	if key == nil && verifiedBy != nil && rep.UID != "" {
		uid, _ := hex.DecodeString(rep.UID)
		if tk, err := verifiedBy.keysFor(uid); err == nil {
			k := tk.key[0]
			key, label = &k, fmt.Sprintf("profile %s's", verifiedBy.Name)
		}
	}
	if key != nil {
		if err := ntag424.SelectApplication(ctx, c); err != nil {
			return nil, err
		}
		ch, err := ntag424.Authenticate(ctx, c, 0, key, ntag424.CryptoLRP, opts.Rand)
		switch {
		case err == nil:
			rep.Key0, rep.Crypto = label+" accepted", ch.Crypto().String()
			if uid, err := ch.GetCardUID(ctx); err == nil {
				rep.UID = strings.ToUpper(hex.EncodeToString(uid))
			}
		case errors.Is(err, ntag424.ErrAuth):
			rep.Key0 = label + " refused"
		default:
			return nil, err
		}
	}
	if opts.Journal != nil && rep.UID != "" {
		uid, _ := hex.DecodeString(rep.UID)
		if rec, err := opts.Journal.Load(ctx, uid); err == nil {
			rep.Journal = rec
		}
	}
	rep.Summary = summarise(rep)
	return rep, nil
}

// summarise says in a line what state the tag is in.
func summarise(rep *Report) string {
	factoryKeys := rep.KeyVersions == [5]int{}
	var ndef *ntag424.FileSettings
	if len(rep.Files) > 1 {
		ndef = rep.Files[1].Settings
	}
	switch {
	case rep.Journal != nil && rep.Journal.State == StateInProgress:
		return fmt.Sprintf("mid-way through %s for profile %q: run the same command again to finish", rep.Journal.Op, rep.Journal.Profile)
	case rep.SUN != nil && rep.SUN.Verified:
		return fmt.Sprintf("personalised: the SUN verifies under profile %q", rep.SUN.Profile)
	case factoryKeys && ndef != nil && ndef.SDM == nil && rep.URL == "":
		return "blank: factory key versions, no SDM, empty NDEF file"
	case rep.URL != "" && rep.SUN != nil && rep.SUN.Profile != "":
		return fmt.Sprintf("the URL matches profile %q but does not verify (%s, %s)", rep.SUN.Profile, rep.SUN.Verdict, rep.SUN.Reason)
	case !factoryKeys:
		return "personalised by someone else: key versions are not the factory's"
	}
	return "factory keys, but not blank"
}
