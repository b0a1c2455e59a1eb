package provision

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nfcd/nfcd/internal/diversify"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
)

// DefaultKeyVersion is the version personalisation gives every key it
// writes; reset writes 00h, the factory version.
const DefaultKeyVersion = 0x01

// DefaultFileData is the SDMENCFileData plaintext of an encfile profile
// when none is given: 16 'x', as in AN12196 §3.4.
var DefaultFileData = bytes.Repeat([]byte{'x'}, 16)

// Target is what a tag must end up holding for a profile: its NDEF file,
// file settings and keys, planned from a URL template.
type Target struct {
	// Name is the profile's name, recorded in the journal.
	Name string
	// Template is the URL template.
	Template string
	// Layout is the profile's SUN layout, defaults filled in.
	Layout ntag424.Layout
	// SDM is the NDEF file and SDM settings computed from the template.
	SDM *ntag424.SDMPlan
	// Settings are the NDEF file settings to set: SDM as planned, read
	// free, write, read-write and change with key 0, CommMode.Plain.
	Settings ntag424.FileSettings
	// KeyVersion is the version every written key gets.
	KeyVersion byte

	keys     ntag424.Keys    // the SDM keys (FileRead a master when diversified)
	tagKeys  profile.TagKeys // key 0 and key slots
	verifier *ntag424.Profile
}

// NewTarget compiles spec (a profile with app_master_key) and plans the
// template for it. fileData is the SDMENCFileData plaintext of an encfile
// profile (nil: DefaultFileData). The errors are the profile's
// (*profile.KeyError, *ntag424.FormatError) or the template's
// (*ntag424.TemplateError); none carries key material.
func NewTarget(spec profile.Spec, template string, fileData []byte) (*Target, error) {
	l, k, err := spec.Parts(false)
	if err != nil {
		return nil, err
	}
	tk, err := spec.TagKeys()
	if err != nil {
		return nil, err
	}
	verifier, err := ntag424.NewProfile(l, k)
	if err != nil {
		return nil, err
	}
	l = verifier.Layout()
	if l.Mode == ntag424.ModeEncFile && fileData == nil {
		fileData = DefaultFileData
	}
	if l.Mode != ntag424.ModeEncFile {
		fileData = nil
	}
	nos := ntag424.SDMKeyNos{MetaRead: ntag424.Access(tk.MetaReadNo), FileRead: ntag424.Access(tk.FileReadNo), CtrRet: ntag424.Access(tk.FileReadNo)}
	plan, err := ntag424.PlanSDM(template, l, nos, fileData)
	if err != nil {
		return nil, err
	}
	t := &Target{
		Name: spec.Name, Template: template, Layout: l, SDM: plan, KeyVersion: DefaultKeyVersion,
		keys: k, tagKeys: tk, verifier: verifier,
	}
	t.Settings = ntag424.FileSettings{
		CommMode: ntag424.CommPlain,
		// Read free: any phone reads the SUN. Everything else key 0, so
		// that nobody rewrites the NDEF message without it (the Bolt Card
		// "add ndef record auth" report, peers §4 item 14).
		Access: ntag424.AccessRights{Read: ntag424.AccessFree, Write: 0, ReadWrite: 0, Change: 0},
		SDM:    &plan.SDM,
	}
	return t, nil
}

// Crypto returns the secure messaging the profile needs on the tag.
func (t *Target) Crypto() ntag424.Crypto { return t.Layout.Crypto }

// Verifier returns the compiled profile that must verify the tag's SUN.
func (t *Target) Verifier() *ntag424.Profile { return t.verifier }

// tagKeys are the application keys of one tag: value and whether the
// profile sets the key at all (plain mode has no SDMMetaReadKey; keys 3
// and 4 only when given).
type tagKeys struct {
	key [5]ntag424.Key
	set [5]bool
}

// keysFor derives the tag's keys from the profile for uid: key 0, the
// SDMFileReadKey and keys 3 and 4 with AN10922 (UID || div_input) when the
// profile diversifies, the SDMMetaReadKey as it is.
func (t *Target) keysFor(uid []byte) (tagKeys, error) {
	var tk tagKeys
	div := func(k ntag424.Key) (ntag424.Key, error) {
		if !t.keys.Diversify {
			return k, nil
		}
		m := append(bytes.Clone(uid), t.keys.DivInput...)
		d, err := diversify.AN10922((*[16]byte)(&k), m)
		if err != nil {
			return ntag424.Key{}, fmt.Errorf("provision: diversify: %w", err)
		}
		return d, nil
	}
	var err error
	put := func(no byte, k ntag424.Key, diverse bool) {
		if err != nil {
			return
		}
		if diverse {
			k, err = div(k)
		}
		tk.key[no], tk.set[no] = k, true
	}
	put(0, t.tagKeys.AppMaster, true)
	put(t.tagKeys.FileReadNo, t.keys.FileRead, true)
	if t.Layout.Mode != ntag424.ModePlain {
		put(t.tagKeys.MetaReadNo, t.keys.MetaRead, false)
	}
	if t.tagKeys.Key3 != nil {
		put(3, *t.tagKeys.Key3, true)
	}
	if t.tagKeys.Key4 != nil {
		put(4, *t.tagKeys.Key4, true)
	}
	return tk, err
}

// PlannedStep is one step of a personalisation as the dry run shows it:
// the commands it sends, key material and session cryptograms elided.
type PlannedStep struct {
	Step   string   `json:"step"`
	What   string   `json:"what"`
	APDUs  []string `json:"apdus"`
	Detail string   `json:"detail,omitempty"`
}

// elided stands for bytes that depend on keys or the session.
func elided(n int, what string) string { return fmt.Sprintf("<%d bytes %s>", n, what) }

// Plan lists the steps of a personalisation of a factory-fresh tag for
// t, with their APDUs: headers and plain data in hex, anything encrypted
// or MACed elided (no key byte is ever shown).
func (t *Target) Plan() []PlannedStep {
	x := strings.ToUpper
	var steps []PlannedStep
	add := func(step, what, detail string, apdus ...string) {
		steps = append(steps, PlannedStep{Step: step, What: what, APDUs: apdus, Detail: detail})
	}
	add(stepSelect, "select the application, read the UID", "",
		"00A4040C07D276000085010100", "9060000000", "90AF000000", "90AF000000")
	first := "9071000002000000"
	if t.Crypto() == ntag424.CryptoLRP {
		first = "907100000300010200"
	}
	add(stepAuth, "authenticate with the current key 0 and read the UID in the session", "",
		first, "90AF000020"+elided(32, "E(key 0, RndA || RndB')")+"00", "9051000008"+elided(8, "MACt")+"00")
	if t.Crypto() == ntag424.CryptoLRP {
		add(stepLRP, "switch the tag to LRP secure messaging, irreversibly (needs --enable-lrp-irreversibly)", "",
			"905C00001905"+elided(16, "E(SesAuthENCKey, 00000000 02 000000 00 00)")+elided(8, "MACt")+"00",
			"907100000300010200", "90AF000020"+elided(32, "RndA || PCDResponse")+"00")
	}
	file := t.SDM.File
	for off := 0; off < len(file); off += 248 {
		chunk := file[off:min(off+248, len(file))]
		hdr := []byte{byte(ntag424.FileNDEF), byte(off), byte(off >> 8), byte(off >> 16), byte(len(chunk)), byte(len(chunk) >> 8), 0}
		add(stepNDEF, "write the NDEF message (CommMode.Plain)", "URL "+t.templateFilled(),
			x(hex.EncodeToString(append([]byte{0x90, 0x8D, 0x00, 0x00, byte(7 + len(chunk))}, append(hdr, chunk...)...)))+"00")
	}
	cfs, _ := t.Settings.AppendChangeData(nil)
	add(stepSettings, "set the NDEF file's SDM settings and access rights (CommMode.Full)",
		"settings "+x(hex.EncodeToString(cfs))+" "+describeSettings(&t.Settings),
		fmt.Sprintf("905F0000%02X02", 1+(len(cfs)/16+1)*16+8)+elided((len(cfs)/16+1)*16, "E(SesAuthENCKey, settings)")+elided(8, "MACt")+"00")
	tk, _ := t.keysFor(make([]byte, ntag424.UIDLen))
	for _, n := range t.keyOrder() {
		if !tk.set[n] {
			continue
		}
		add(keyStep(n), fmt.Sprintf("prove the old key %d, change it, prove the new one", n), "",
			fmt.Sprintf("90770000010%d00", n), "90AF000020"+elided(32, "E(old key, RndA || RndB')")+"00",
			"907700000100"+"00", "90AF000020"+elided(32, "E(key 0, RndA || RndB')")+"00",
			fmt.Sprintf("90C40000290%d", n)+elided(32, "E(SesAuthENCKey, new XOR old || version || CRC32)")+elided(8, "MACt")+"00",
			fmt.Sprintf("90770000010%d00", n), "90AF000020"+elided(32, "E(new key, RndA || RndB')")+"00")
	}
	add(keyStep(0), "change key 0 last (the session ends), authenticate with the new key 0", "",
		"90C400002900"+elided(32, "E(SesAuthENCKey, new key 0 || version)")+elided(8, "MACt")+"00",
		first, "90AF000020"+elided(32, "E(new key 0, RndA || RndB')")+"00")
	add(stepVerify, "read the tag as a tap does and verify the SUN under the profile", "",
		"00A4040C07D276000085010100", "00B0820000")
	return steps
}

// templateFilled returns the URL as written, placeholders filled.
func (t *Target) templateFilled() string {
	u, err := ntag424.URLOf(t.SDM.File)
	if err != nil {
		return t.Template
	}
	return u
}

// keyOrder is the order in which the keys other than 0 change.
func (t *Target) keyOrder() []byte {
	order := []byte{t.tagKeys.FileReadNo}
	if t.tagKeys.MetaReadNo != t.tagKeys.FileReadNo {
		order = append(order, t.tagKeys.MetaReadNo)
	}
	for _, n := range []byte{1, 2, 3, 4} {
		if n != t.tagKeys.FileReadNo && n != t.tagKeys.MetaReadNo {
			order = append(order, n)
		}
	}
	return order
}

// SampleURL returns the URL the tag with uid will mirror on its tap with
// SDMReadCtr ctr once personalised: the plan mirrored as the tag does it,
// with the profile's keys. rand stands in for the tag's randomness.
func (t *Target) SampleURL(uid [ntag424.UIDLen]byte, ctr uint32) (string, error) {
	tk, err := t.keysFor(uid[:])
	if err != nil {
		return "", err
	}
	static := make([]byte, ntag424.NDEFFileSize)
	copy(static, t.SDM.File)
	dyn, err := ntag424.MirrorFile(static, &t.SDM.SDM, t.Crypto(), &tk.key, uid, ctr, bytes.NewReader(make([]byte, 64)))
	clear(tk.key[:])
	if err != nil {
		return "", err
	}
	return ntag424.URLOf(dyn)
}

// describeSettings prints file settings for people: access rights and the
// SDM offsets.
func describeSettings(fs *ntag424.FileSettings) string {
	a := fs.Access
	s := fmt.Sprintf("comm %v, read %v, write %v, read-write %v, change %v", fs.CommMode, a.Read, a.Write, a.ReadWrite, a.Change)
	if fs.Size != 0 {
		s = fmt.Sprintf("%d bytes, %s", fs.Size, s)
	}
	if d := fs.SDM; d != nil {
		s += fmt.Sprintf("; SDM: meta-read %v, file-read %v, counter-read %v", d.MetaRead, d.FileRead, d.CtrRet)
		if d.MetaRead == ntag424.AccessFree {
			s += fmt.Sprintf(", UID at %d", d.UIDOffset)
			if d.ReadCtr && d.ReadCtrOffset != ntag424.NoCtrMirror {
				s += fmt.Sprintf(", counter at %d", d.ReadCtrOffset)
			}
		}
		if d.MetaRead.IsKey() {
			s += fmt.Sprintf(", PICCData at %d", d.PICCDataOffset)
		}
		if d.FileRead.IsKey() {
			if d.ENCFileData {
				s += fmt.Sprintf(", SDMENCFileData at %d (%d chars)", d.ENCOffset, d.ENCLength)
			}
			s += fmt.Sprintf(", MAC input from %d, SDMMAC at %d", d.MACInputOffset, d.MACOffset)
		}
		if d.ReadCtrLimit {
			s += fmt.Sprintf(", counter limit %d", d.ReadCtrLimitValue)
		}
	} else {
		s += "; no SDM"
	}
	return s
}
