package vtag

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nfcd/nfcd/internal/diversify"
	"github.com/nfcd/nfcd/internal/ndef"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// atr is the PC/SC Part 3 pseudo-ATR of an NTAG 424 DNA seen through a
// contactless reader: 3B 8n 80 01 followed by the ATS historical bytes (80)
// and TCK (PC/SC Part 3 §3.1.3.2.3, ATR for contactless cards).
var atr = [...]byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}

// historicalBytes are the ATS historical bytes, returned by GET DATA with
// P1 = 01 (PC/SC Part 3 §3.2.2.1.3).
var historicalBytes = [...]byte{0x80}

// DefaultUID is the UID of the tag in NXP AN12196 Table 30, whose genuine
// originality signature the card serves, so that a default virtual tag
// passes the originality check.
var DefaultUID = [ntag424.UIDLen]byte{0x04, 0x51, 0x8D, 0xFA, 0xA9, 0x61, 0x80}

// defaultSignature is NXP's originality signature for DefaultUID (AN12196
// Table 30; the shared vector an12196-t30-originality).
var defaultSignature = [ntag424.OriginalitySignatureSize]byte{
	0xD1, 0x94, 0x0D, 0x17, 0xCF, 0xED, 0xA4, 0xBF, 0xF8, 0x03, 0x59, 0xAB, 0x97, 0x5F,
	0x9F, 0x65, 0x14, 0x31, 0x3E, 0x8F, 0x90, 0xC1, 0xD3, 0xCA, 0xAF, 0x59, 0x41, 0xAD,
	0x74, 0x4A, 0x1C, 0xDF, 0x9A, 0x83, 0xF8, 0x83, 0xCA, 0xFE, 0x0F, 0xE9, 0x5D, 0x19,
	0x39, 0xB1, 0xB7, 0xE4, 0x71, 0x13, 0x99, 0x33, 0x24, 0x47, 0x3B, 0x78, 0x5D, 0x21,
}

// defaultFileData is the SDMENCFileData mirrored in ModeEncFile when
// Config.FileData is empty: the 16 'x' of NXP AN12196 §3.4.
var defaultFileData = bytes.Repeat([]byte{'x'}, 16)

// GetVersion answer (NT4H2421Gx §10.5.2, tables 54, 56 and 58): NXP, NTAG,
// 50 pF, HW 30.00, 256 B < storage < 512 B, ISO/IEC 14443-4; SW 01.02. The
// production data (batch CD65935D 4, week 21, year 21) is fixed.
var (
	versionHW   = [...]byte{0x04, 0x04, 0x02, 0x30, 0x00, 0x11, 0x05}
	versionSW   = [...]byte{0x04, 0x04, 0x02, 0x01, 0x02, 0x11, 0x05}
	versionProd = [...]byte{0xCD, 0x65, 0x93, 0x5D, 0x40, 0x21, 0x21}
)

// ISO/IEC 7816-4 names of the NDEF application (NT4H2421Gx §10.9.1): the
// DF name D2760000850101 selects the application, D2760000850100 the PICC
// level.
var (
	ndefAppName = []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}
	piccName    = []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x00}
)

// ISO file identifiers (NT4H2421Gx §8.2.2, §10.9.1).
const (
	fidMF   = 0x3F00
	fidApp  = 0xE110
	fidCC   = 0xE103
	fidNDEF = 0xE104
	fidProp = 0xE105
)

// fileNo is a file number inside the NDEF application. It is also the
// file's short ISO FileID for ISOReadBinary (NT4H2421Gx §10.9.2, P1 bits
// 4..0; the same numbering as nikeee/node-ntag424 and the ntag424 Rust
// crate, and proxmark3's DESFire ISO read, which pass the file number as
// SFI).
type fileNo byte

const (
	fileNone fileNo = 0
	fileCC   fileNo = 1
	fileNDEF fileNo = 2
	fileProp fileNo = 3
)

// File sizes of a factory NTAG 424 DNA (NT4H2421Gx §8.2.2).
const (
	ccSize   = 32
	ndefSize = 256
	propSize = 128
)

// ccFile is the Capability Container as dumped from real tags (platform
// notes, Addendum): T4T v2.0, MLe 0100, MLc 00FF, NDEF file E104 of 256
// bytes with free read and write, proprietary file E105 of 128 bytes with
// proprietary read (80) and write (82, 83) conditions.
var ccFile = [ccSize]byte{
	0x00, 0x17, 0x20, 0x01, 0x00, 0x00, 0xFF,
	0x04, 0x06, 0xE1, 0x04, 0x01, 0x00, 0x00, 0x00,
	0x05, 0x06, 0xE1, 0x05, 0x00, 0x80, 0x82, 0x83,
}

// maxCtr is the largest SDMReadCtr (24 bits). A tag whose counter reached
// it refuses unauthenticated reads of the file (NT4H2421Gx table 89: 6982,
// SDMReadCtr overflow).
const maxCtr = 1<<24 - 1

// Fault is a failure the card plays on purpose, so that a reader's error
// paths can be tested.
type Fault string

// Faults. The zero Fault is a healthy card.
const (
	FaultNone Fault = ""
	// FaultSelect makes selecting the NDEF application fail with 6A82.
	FaultSelect Fault = "6A82"
	// FaultReadRefused makes every read of the NDEF file fail with 6982.
	FaultReadRefused Fault = "6982"
	// FaultWrongLength makes every read of the NDEF file fail with 6700.
	FaultWrongLength Fault = "6700"
	// FaultShort cuts the NDEF file off halfway through the message: NLEN
	// promises more bytes than READ BINARY ever returns (with 9000).
	FaultShort Fault = "short"
	// FaultRemoved pulls the tag out mid-read: the first READ BINARY that
	// reaches past NLEN into the message gets an empty response, and the
	// card answers nothing (not even its ATR) until the next presentation.
	// The counter has already advanced, as on a real tag whose mirror was
	// computed before the field dropped.
	FaultRemoved Fault = "removed"
)

var faults = [...]Fault{FaultNone, FaultSelect, FaultReadRefused, FaultWrongLength, FaultShort, FaultRemoved}

// ParseFault parses a fault name as it appears on the command line: "",
// "6A82", "6982", "6700", "short" or "removed" (hex case-insensitive).
func ParseFault(s string) (Fault, error) {
	for _, f := range faults {
		if bytes.EqualFold([]byte(s), []byte(f)) {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: %q is not 6A82, 6982, 6700, short or removed", ErrConfig, s)
}

// ErrConfig reports a Config that cannot make a card. Errors wrapping it
// say which field is wrong.
var ErrConfig = errors.New("vtag: invalid config")

// Config describes a virtual tag.
type Config struct {
	// UID is the tag's 7-byte UID; the zero value means DefaultUID.
	UID [ntag424.UIDLen]byte
	// Signature is the 56-byte originality signature Read_Sig returns. Nil
	// means NXP's genuine signature for DefaultUID, and 56 zero bytes for
	// any other UID, so that the originality check fails honestly.
	Signature []byte

	// Blank makes a tag as NXP delivers it: every key the all-zero key at
	// version 00, the factory file settings (NDEF file free to read and
	// write, no SDM), an empty NDEF file and AES secure messaging. Layout,
	// Keys, URL, FileData, TT, Counterfeit, Replay and NoSUN are ignored;
	// the tag is personalised over the air (nfcd tag provision).
	Blank bool

	// Layout and Keys are how the tag was personalised for SDM. They are
	// not used when NoSUN is set. The card holds SDMMetaReadKey in key
	// slot 1 and SDMFileReadKey (diversified for the UID when
	// Keys.Diversify is set) in slot 2, key 0 is the zero key, and the
	// NDEF file is laid out by ntag424.PlanSDM, so that GetFileSettings
	// shows the offsets a reader would have to configure.
	Layout ntag424.Layout
	Keys   ntag424.Keys
	// URL is the URL template: the part before the SUN parameters, such
	// as "https://sdm.example/tag". It may carry a query of its own.
	URL string
	// Counter is SDMReadCtr before the first tap: the first read mirrors
	// Counter+1. It must fit in 24 bits.
	Counter uint32
	// TT is the TagTamper status mirrored when the layout has one; the
	// zero value means "CC" (closed, closed).
	TT [2]byte
	// FileData is the SDMENCFileData plaintext (ModeEncFile), a positive
	// multiple of 16 bytes; empty means 16 'x' (AN12196 §3.4).
	FileData []byte

	// Counterfeit computes the SDMMAC with a wrong SDMFileReadKey (one bit
	// flipped), as a clone without the key would: PICCData still
	// decrypts, but verification fails with ntag424.ErrBadMAC.
	Counterfeit bool
	// Replay serves every second tap as an exact copy of the tap before
	// it: same counter, same MAC. The counter does not advance on the
	// copies.
	Replay bool
	// NoSUN serves URL as a plain NDEF URI, without SUN parameters.
	NoSUN bool
	// Fault is a failure to play on every tap.
	Fault Fault

	// Rand feeds the PICCData padding (AES) and PICCRand (LRP), RndB and
	// the transaction identifier of authentications. Nil means
	// crypto/rand; tests inject a deterministic reader.
	Rand io.Reader
}

// Card is a virtual NTAG 424 DNA. It satisfies vpcd.Card. Its methods are
// safe for concurrent use, but a card models one tag: APDUs from two
// readers at once interleave as they would on one tag.
type Card struct {
	uid         [ntag424.UIDLen]byte
	sig         [ntag424.OriginalitySignatureSize]byte
	prof        *ntag424.Profile // the personalisation of a Config with a Layout; the wrong-key one when Counterfeit
	ttMirror    bool             // TagTamper layout: mirror with prof.MirrorURL, not the file settings
	url         string
	tt          [2]byte
	fileData    []byte
	replay      bool
	noSUN       bool
	counterfeit bool
	fault       Fault
	rand        io.Reader

	mu sync.Mutex
	// The tag's non-volatile state.
	keys   [5]ntag424.Key
	keyVer [5]byte
	lrp    bool // PDCap2.1 bit 1: LRP secure messaging, for good
	files  [4][]byte
	fs     [4]ntag424.FileSettings
	ctr    uint32 // SDMReadCtr: the last value mirrored
	// Per presentation.
	app     bool       // the NDEF application is selected (else the PICC level)
	ef      fileNo     // the currently selected file
	chain   int        // GetVersion frames already sent while more are pending
	pending *authState // an authentication waiting for its part 2
	auth    *session   // the authenticated session, nil when not authenticated
	ndef    []byte     // the NDEF file of this presentation, nil until first read
	gone    bool       // the tag left the field (FaultRemoved or Pull)
	// Across presentations.
	taps        int    // presentations whose NDEF file was read
	lastURL     string // the URL of the last NDEF file served
	lastFile    []byte // the last NDEF file served (Replay)
	replayNext  bool   // the next read replays lastFile
	apdus       int    // APDUs received
	pullAt      int    // the APDU count at which the tag leaves the field; 0: never
	pullExec    bool   // the APDU at pullAt is carried out before the tag leaves
	failedAuths int
}

// New returns a card for cfg. The error wraps ErrConfig, or is the
// ntag424 error that rejected the layout (a *ntag424.FormatError).
func New(cfg Config) (*Card, error) {
	c := &Card{
		uid:         cfg.UID,
		url:         cfg.URL,
		tt:          cfg.TT,
		replay:      cfg.Replay,
		noSUN:       cfg.NoSUN,
		counterfeit: cfg.Counterfeit,
		rand:        cfg.Rand,
		ctr:         cfg.Counter,
	}
	if c.uid == [ntag424.UIDLen]byte{} {
		c.uid = DefaultUID
	}
	switch {
	case cfg.Signature != nil:
		if len(cfg.Signature) != ntag424.OriginalitySignatureSize {
			return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrConfig, len(cfg.Signature), ntag424.OriginalitySignatureSize)
		}
		copy(c.sig[:], cfg.Signature)
	case c.uid == DefaultUID:
		c.sig = defaultSignature
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.tt == [2]byte{} {
		c.tt = [2]byte{'C', 'C'}
	}
	f, err := ParseFault(string(cfg.Fault))
	if err != nil {
		return nil, err
	}
	c.fault = f
	if cfg.Counter > maxCtr {
		return nil, fmt.Errorf("%w: counter %d does not fit in 24 bits", ErrConfig, cfg.Counter)
	}
	c.factory()
	if cfg.Blank {
		c.replay, c.noSUN, c.counterfeit, c.url, c.ctr = false, false, false, "", 0
		return c, nil
	}
	if cfg.URL == "" || !utf8.ValidString(cfg.URL) {
		return nil, fmt.Errorf("%w: URL must be non-empty UTF-8", ErrConfig)
	}
	if cfg.NoSUN {
		file, err := encodeNDEF(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		c.files[fileNDEF] = file
		return c, nil
	}
	if err := c.personalise(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// factory puts the tag in its delivery state (NT4H2421Gx §8.2.2): zero
// keys at version 00, AES mode, the factory CC file and file settings, an
// empty NDEF file and an empty proprietary file.
func (c *Card) factory() {
	c.keys, c.keyVer, c.lrp = [5]ntag424.Key{}, [5]byte{}, false
	c.files[fileCC] = bytes.Clone(ccFile[:])
	c.files[fileNDEF] = make([]byte, ndefSize)
	c.files[fileProp] = make([]byte, propSize)
	for _, f := range []fileNo{fileCC, fileNDEF, fileProp} {
		c.fs[f] = *ntag424.FactoryFileSettings(ntag424.FileNo(f))
	}
}

// personalise sets the card up as Config's layout and keys describe: the
// SDM keys in slots 1 and 2 and the NDEF file laid out by ntag424.PlanSDM,
// read free, written and changed with key 0. TagTamper layouts, which an
// NT4H2421Gx cannot mirror, keep the factory file settings and are
// mirrored by the profile's encoder instead.
func (c *Card) personalise(cfg Config) error {
	keys := cfg.Keys
	if cfg.Counterfeit {
		keys.FileRead[15] ^= 0x01
	}
	var err error
	if c.prof, err = ntag424.NewProfile(cfg.Layout, keys); err != nil {
		return err
	}
	l := c.prof.Layout()
	if l.Mode == ntag424.ModeEncFile {
		c.fileData = bytes.Clone(cfg.FileData)
		if len(c.fileData) == 0 {
			c.fileData = bytes.Clone(defaultFileData)
		}
	}
	if l.TTParam || l.TTInEnc {
		c.ttMirror = true
		// A trial mirror checks the file data and that the file fits,
		// without touching c.rand (the URL length does not depend on the
		// randomness).
		url, err := c.prof.MirrorURL(c.url, c.tagData(c.ctr), zeroReader{})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if _, err := encodeNDEF(url); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return nil
	}
	plan, err := ntag424.PlanSDM(sunTemplate(cfg.URL, l), l, ntag424.SDMKeyNos{MetaRead: 1, FileRead: 2, CtrRet: ntag424.AccessNever}, c.fileData)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	file := make([]byte, ndefSize)
	copy(file, plan.File)
	c.files[fileNDEF] = file
	c.fs[fileNDEF] = ntag424.FileSettings{
		CommMode: ntag424.CommPlain, Size: ndefSize,
		Access: ntag424.AccessRights{Read: ntag424.AccessFree, Write: 0, ReadWrite: 0, Change: 0},
		SDM:    &plan.SDM,
	}
	c.lrp = l.Crypto == ntag424.CryptoLRP
	c.keys[1] = cfg.Keys.MetaRead
	c.keys[2] = cfg.Keys.FileRead
	if cfg.Keys.Diversify {
		m := append(c.uid[:len(c.uid):len(c.uid)], cfg.Keys.DivInput...)
		k, err := diversify.AN10922((*[16]byte)(&cfg.Keys.FileRead), m)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		c.keys[2] = k
	}
	return nil
}

// sunTemplate is the URL template of a Config: url, then the parameters
// of the layout's mode in the order ntag424.Profile.MirrorURL writes them.
func sunTemplate(url string, l ntag424.Layout) string {
	var b strings.Builder
	b.WriteString(url)
	sep := byte('?')
	if strings.IndexByte(url, '?') >= 0 {
		sep = '&'
	}
	param := func(name, ph string) {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(name + "={" + ph + "}")
	}
	switch l.Mode {
	case ntag424.ModePlain:
		param(l.Names.UID, "uid")
		if !l.NoCtr {
			param(l.Names.Ctr, "ctr")
		}
	default:
		param(l.Names.PICCData, "picc_data")
		if l.Mode == ntag424.ModeEncFile {
			param(l.Names.Enc, "enc")
		}
	}
	param(l.Names.CMAC, "cmac")
	return b.String()
}

// zeroReader reads zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func (c *Card) tagData(ctr uint32) ntag424.TagData {
	return ntag424.TagData{UID: c.uid, Ctr: ctr, TT: c.tt, FileData: c.fileData}
}

// errTooLong reports a URL whose NDEF message does not fit the file.
var errTooLong = errors.New("URL does not fit in the 256-byte NDEF file")

// encodeNDEF returns the NDEF file holding one URI record for url: NLEN,
// the message, zero padding up to the file size.
func encodeNDEF(url string) ([]byte, error) {
	b, err := ndef.EncodeFile(ndef.Message{ndef.NewURIRecord(url)})
	if err != nil {
		return nil, err
	}
	if len(b) > ndefSize {
		return nil, fmt.Errorf("%w (%d bytes)", errTooLong, len(b))
	}
	file := make([]byte, ndefSize)
	copy(file, b)
	return file, nil
}

// UID returns the tag's UID.
func (c *Card) UID() [ntag424.UIDLen]byte { return c.uid }

// Counter returns SDMReadCtr: the value mirrored by the last tap that
// advanced it, or Config.Counter before any (zero after ChangeFileSettings
// enabled SDM).
func (c *Card) Counter() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctr
}

// Taps returns how many presentations had their NDEF file read.
func (c *Card) Taps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.taps
}

// LastURL returns the URL in the NDEF file served last, or "" before the
// first read (or when that file held no URL).
func (c *Card) LastURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastURL
}

// APDUs returns how many command APDUs the card has received.
func (c *Card) APDUs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apdus
}

// FailedAuths returns how many authentications failed (TotFailCtr without
// its decrements; the delays and the limit are not modelled).
func (c *Card) FailedAuths() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failedAuths
}

// Pull makes the tag leave the field at the n-th APDU from now (1: the
// next one). With executed set, the tag carries that command out and the
// field drops before its response (the response is lost); otherwise the
// command never arrives. Either way the reader gets an empty response and
// the tag answers nothing, not even its ATR, until the next presentation.
// n <= 0 cancels a pending pull.
func (c *Card) Pull(n int, executed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pullAt, c.pullExec = 0, false
	if n > 0 {
		c.pullAt, c.pullExec = c.apdus+n, executed
	}
}

// State is a copy of the tag's non-volatile memory, for tests that check
// what a sequence of commands changed. It holds the keys in the clear: a
// virtual tag's keys are test data.
type State struct {
	Keys        [5]ntag424.Key
	KeyVersions [5]byte
	LRP         bool
	Files       [3][]byte               // CC, NDEF, proprietary
	Settings    [3]ntag424.FileSettings // CC, NDEF, proprietary
	Counter     uint32
}

// State returns a copy of the tag's non-volatile memory.
func (c *Card) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := State{Keys: c.keys, KeyVersions: c.keyVer, LRP: c.lrp, Counter: c.ctr}
	for i, f := range []fileNo{fileCC, fileNDEF, fileProp} {
		s.Files[i] = bytes.Clone(c.files[f])
		s.Settings[i] = c.fs[f]
		if c.fs[f].SDM != nil {
			sdm := *c.fs[f].SDM
			s.Settings[i].SDM = &sdm
		}
	}
	return s
}

// Presentation marks a new tap: the tag enters the field afresh, with the
// PICC level selected and no authentication, and the next read of the
// NDEF file mirrors a new counter value.
func (c *Card) Presentation() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.present()
}

func (c *Card) present() {
	c.deselect()
	c.ndef = nil
	c.gone = false
	c.pullAt = 0
}

// deselect returns to the PICC level, as after activation, which also
// ends any authentication.
func (c *Card) deselect() {
	c.app, c.ef, c.chain = false, fileNone, 0
	c.auth, c.pending = nil, nil
}

// ATR returns the PC/SC pseudo-ATR, or nothing once the tag was pulled out
// (FaultRemoved, Pull), which makes vpcd report the slot empty.
func (c *Card) ATR() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return []byte{}
	}
	return bytes.Clone(atr[:])
}

// PowerOn is called when the reader powers the card up. The tag restarts
// at the PICC level, unauthenticated, but stays in the same presentation:
// pcscd powers an idle card down and up again while it sits in the field.
func (c *Card) PowerOn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deselect()
}

// PowerOff is called when the reader powers the card down; see PowerOn.
func (c *Card) PowerOff() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deselect()
}

// Reset is a warm reset, which re-activates the tag: it starts a new
// presentation, like Presentation.
func (c *Card) Reset() { c.Presentation() }

// Transmit answers one command APDU with data and a status word. It never
// panics: a malformed APDU gets an ISO/IEC 7816-4 error (6700 for a bad
// length). An empty response means the tag left the field mid-exchange
// (FaultRemoved, Pull).
func (c *Card) Transmit(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return []byte{}
	}
	c.apdus++
	if c.pullAt != 0 && c.apdus >= c.pullAt {
		if c.pullExec {
			c.transmit(apdu)
		}
		c.gone, c.pullAt = true, 0
		c.auth, c.pending = nil, nil
		return []byte{}
	}
	return c.transmit(apdu)
}

func (c *Card) transmit(apdu []byte) []byte {
	cmd, ok := parseCommand(apdu)
	if !ok {
		return status(swWrongLength)
	}
	switch cmd.cla {
	case claPCSC:
		// A real reader answers these itself; the tag never sees them.
		if cmd.ins == insGetData {
			return c.getData(cmd)
		}
		return status(swINSNotSupp)
	case claNative:
		return c.native(cmd)
	case claISO:
		c.pending = nil
		switch cmd.ins {
		case insSelect:
			return c.selectFile(cmd)
		case insReadBinary:
			return c.readBinary(cmd)
		case insUpdateBinary:
			return c.updateBinary(cmd)
		}
		return status(swINSNotSupp)
	}
	return status(swCLANotSupp)
}

// getData answers PC/SC GET DATA: P1 = 00 the UID, P1 = 01 the ATS
// historical bytes (PC/SC Part 3 §3.2.2.1.3, table 3-4 for the status
// words).
func (c *Card) getData(cmd command) []byte {
	if cmd.data != nil || cmd.p2 != 0 {
		return status(swWrongParams)
	}
	var data []byte
	switch cmd.p1 {
	case 0x00:
		data = c.uid[:]
	case 0x01:
		data = historicalBytes[:]
	default:
		return status(swWrongParams)
	}
	switch {
	case !cmd.hasLe || cmd.ne == 256 || cmd.ne == len(data):
		return respond(data, swOK)
	case cmd.ne < len(data):
		return status(swWrongLe | uint16(len(data)))
	default:
		return respond(data, swEndOfData)
	}
}

// abortChain reports whether a multi-frame native command was pending, and
// drops it: an ISO command meanwhile gets 6985 (NT4H2421Gx tables 86, 89).
func (c *Card) abortChain() bool {
	pending := c.chain > 0
	c.chain = 0
	return pending
}

// selectFile answers ISOSelectFile (NT4H2421Gx §10.9.1). No FCI is ever
// returned, whatever P2 asks for. Selecting an application or the PICC
// level ends any authentication, as a DESFire application selection does;
// selecting a file inside the application keeps it.
func (c *Card) selectFile(cmd command) []byte {
	if c.abortChain() {
		return status(swConditions)
	}
	if cmd.p2 != 0x00 && cmd.p2 != 0x0C {
		return status(swWrongP1P2)
	}
	switch cmd.p1 {
	case 0x04: // by DF name
		if len(cmd.data) == 0 || len(cmd.data) > 16 {
			return status(swWrongLength)
		}
		switch {
		case bytes.Equal(cmd.data, ndefAppName):
			return c.selectApp()
		case bytes.Equal(cmd.data, piccName):
			c.deselect()
			return status(swOK)
		}
		return status(swFileNotFound) // the current selection stays
	case 0x03: // parent DF
		if len(cmd.data) != 0 {
			return status(swLcInconsistent)
		}
		c.deselect()
		return status(swOK)
	case 0x00, 0x01, 0x02: // by file identifier
		if len(cmd.data) == 0 {
			if cmd.p1 != 0x00 {
				return status(swLcInconsistent)
			}
			c.deselect()
			return status(swOK)
		}
		if len(cmd.data) != 2 {
			return status(swLcInconsistent)
		}
		fid := uint16(cmd.data[0])<<8 | uint16(cmd.data[1])
		switch {
		case fid == fidMF && cmd.p1 == 0x00:
			c.deselect()
			return status(swOK)
		case fid == fidApp && cmd.p1 != 0x02:
			return c.selectApp()
		case cmd.p1 == 0x01:
			return status(swFileNotFound)
		}
		f := fileByFID(fid)
		if f == fileNone || !c.app {
			return status(swFileNotFound)
		}
		c.ef = f
		return status(swOK)
	}
	return status(swWrongP1P2)
}

func (c *Card) selectApp() []byte {
	if c.fault == FaultSelect {
		return status(swFileNotFound)
	}
	c.deselect()
	c.app = true
	return status(swOK)
}

func fileByFID(fid uint16) fileNo {
	switch fid {
	case fidCC:
		return fileCC
	case fidNDEF:
		return fileNDEF
	case fidProp:
		return fileProp
	}
	return fileNone
}

// isoFile resolves the file of ISOReadBinary and ISOUpdateBinary: P1 bit 7
// set selects the file with the short ISO FileID in P1 bits 4-0 (00: the
// current one) and P2 is the offset; else P1-P2 is a 15-bit offset into
// the current file (§10.9.2 Table 87).
func (c *Card) isoFile(cmd command) (fileNo, int, uint16) {
	f, off := c.ef, 0
	if cmd.p1&0x80 != 0 {
		if cmd.p1&0x60 != 0 {
			return fileNone, 0, swWrongP1P2
		}
		switch sfi := cmd.p1 & 0x1F; sfi {
		case 0x00:
		case 0x1F:
			return fileNone, 0, swWrongP1P2
		default:
			f = fileNo(sfi)
			if !c.app || f > fileProp {
				return fileNone, 0, swFileNotFound
			}
			c.ef = f
		}
		off = int(cmd.p2)
	} else {
		off = int(cmd.p1)<<8 | int(cmd.p2)
	}
	if f == fileNone {
		return fileNone, 0, swConditions
	}
	return f, off, swOK
}

// freeAccess reports whether the file's access rights let anyone do what
// one of the two conditions grants (Read or ReadWrite, Write or ReadWrite).
func freeAccess(a, rw ntag424.Access) bool {
	return a == ntag424.AccessFree || rw == ntag424.AccessFree
}

// readBinary answers ISOReadBinary (NT4H2421Gx §10.9.2, tables 87-89).
// It is always plain: it needs free read access and no authentication
// (6982, "AuthenticatedEV2 not allowed"), and on the NDEF file with SDM
// it returns the mirror.
func (c *Card) readBinary(cmd command) []byte {
	if cmd.data != nil || !cmd.hasLe {
		return status(swWrongLength)
	}
	if c.abortChain() {
		return status(swConditions)
	}
	f, off, sw := c.isoFile(cmd)
	if sw != swOK {
		return status(sw)
	}
	fs := &c.fs[f]
	if f == fileNDEF {
		switch c.fault {
		case FaultReadRefused:
			return status(swSecurity)
		case FaultWrongLength:
			return status(swWrongLength)
		}
	}
	if c.auth != nil || !freeAccess(fs.Access.Read, fs.Access.ReadWrite) && (fs.SDM == nil || fs.SDM.FileRead == ntag424.AccessNever) {
		return status(swSecurity)
	}
	content := c.files[f]
	end := len(content) // where the readable bytes stop; the file size unless FaultShort
	if f == fileNDEF {
		if off >= ndefSize {
			return status(swWrongP1P2)
		}
		file, sw := c.ndefFile()
		if sw != swOK {
			return status(sw)
		}
		content = file
		msgEnd := 2 + (int(file[0])<<8 | int(file[1]))
		switch c.fault {
		case FaultShort:
			end = 2 + (msgEnd-2)/2
		case FaultRemoved:
			if off+cmd.ne > 2 {
				c.gone = true
				return []byte{}
			}
		}
	}
	if off >= len(content) {
		return status(swWrongP1P2)
	}
	n := min(cmd.ne, end-off)
	if n < 0 {
		n = 0
	}
	return respond(content[off:off+n], swOK)
}

// updateBinary answers ISOUpdateBinary (§10.9, Table 22): plain writes to a
// file with free write access, without authentication.
func (c *Card) updateBinary(cmd command) []byte {
	if c.abortChain() {
		return status(swConditions)
	}
	if len(cmd.data) == 0 || cmd.hasLe {
		return status(swWrongLength)
	}
	f, off, sw := c.isoFile(cmd)
	if sw != swOK {
		return status(sw)
	}
	fs := &c.fs[f]
	if c.auth != nil || !freeAccess(fs.Access.Write, fs.Access.ReadWrite) {
		return status(swSecurity)
	}
	if off+len(cmd.data) > len(c.files[f]) {
		return status(swWrongP1P2)
	}
	copy(c.files[f][off:], cmd.data)
	c.ndef = nil
	return status(swOK)
}

// ndefFile returns this presentation's NDEF file, building it on the first
// read: that read advances SDMReadCtr and mirrors it (or, on a Replay card,
// every second tap re-serves the previous file unchanged). Without SDM it
// is the static file.
func (c *Card) ndefFile() ([]byte, uint16) {
	if c.ndef != nil {
		return c.ndef, swOK
	}
	sdm := c.fs[fileNDEF].SDM
	var file []byte
	switch {
	case c.replayNext:
		file = c.lastFile
		c.replayNext = false
	case c.ttMirror || sdm != nil && sdm.ReadCtr:
		if c.ctr >= maxCtr || sdm != nil && sdm.ReadCtrLimit && c.ctr >= sdm.ReadCtrLimitValue {
			return nil, swSecurity
		}
		f, err := c.mirror(c.ctr + 1)
		if err != nil {
			return nil, swMemoryFailure // rand failed
		}
		c.ctr++
		file = f
		c.replayNext = c.replay
	case sdm != nil:
		f, err := c.mirror(c.ctr)
		if err != nil {
			return nil, swMemoryFailure
		}
		file = f
	default:
		file = bytes.Clone(c.files[fileNDEF])
	}
	c.ndef, c.lastFile = file, file
	c.lastURL, _ = ntag424.URLOf(file)
	c.taps++
	return file, swOK
}

// mirror returns the NDEF file the tag serves with SDMReadCtr = ctr.
func (c *Card) mirror(ctr uint32) ([]byte, error) {
	if c.ttMirror {
		url, err := c.prof.MirrorURL(c.url, c.tagData(ctr), c.rand)
		if err != nil {
			return nil, err
		}
		return encodeNDEF(url)
	}
	keys := c.keys
	if k := c.fs[fileNDEF].SDM.FileRead; c.counterfeit && k.IsKey() {
		keys[k][15] ^= 0x01
	}
	crypto := ntag424.CryptoAES
	if c.lrp {
		crypto = ntag424.CryptoLRP
	}
	return ntag424.MirrorFile(c.files[fileNDEF], c.fs[fileNDEF].SDM, crypto, &keys, c.uid, ctr, c.rand)
}
