package vtag

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

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

	// Layout and Keys are how the tag was personalised for SDM. They are
	// not used when NoSUN is set.
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

	// Rand feeds the PICCData padding (AES) and PICCRand (LRP). Nil means
	// crypto/rand; tests inject a deterministic reader.
	Rand io.Reader
}

// Card is a virtual NTAG 424 DNA. It satisfies vpcd.Card. Its methods are
// safe for concurrent use, but a card models one tag: APDUs from two
// readers at once interleave as they would on one tag.
type Card struct {
	uid      [ntag424.UIDLen]byte
	sig      [ntag424.OriginalitySignatureSize]byte
	prof     *ntag424.Profile // mirrors the URL; the wrong-key one when Counterfeit
	url      string
	tt       [2]byte
	fileData []byte
	replay   bool
	noSUN    bool
	fault    Fault
	rand     io.Reader

	mu  sync.Mutex
	ctr uint32 // SDMReadCtr: the last value mirrored
	// Per presentation.
	app   bool   // the NDEF application is selected (else the PICC level)
	ef    fileNo // the currently selected file
	chain int    // GetVersion frames already sent while more are pending
	ndef  []byte // the NDEF file of this presentation, nil until first read
	gone  bool   // FaultRemoved fired: the tag is out of the field
	// Across presentations.
	taps       int    // presentations whose NDEF file was read
	lastURL    string // the URL of the last NDEF file served
	replayNext bool   // the next read replays lastURL
}

// New returns a card for cfg. The error wraps ErrConfig, or is the
// ntag424 error that rejected the layout (a *ntag424.FormatError).
func New(cfg Config) (*Card, error) {
	c := &Card{
		uid:    cfg.UID,
		url:    cfg.URL,
		tt:     cfg.TT,
		replay: cfg.Replay,
		noSUN:  cfg.NoSUN,
		rand:   cfg.Rand,
		ctr:    cfg.Counter,
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
	if cfg.URL == "" || !utf8.ValidString(cfg.URL) {
		return nil, fmt.Errorf("%w: URL must be non-empty UTF-8", ErrConfig)
	}
	if cfg.Counter > maxCtr {
		return nil, fmt.Errorf("%w: counter %d does not fit in 24 bits", ErrConfig, cfg.Counter)
	}
	if !cfg.NoSUN {
		keys := cfg.Keys
		if cfg.Counterfeit {
			keys.FileRead[15] ^= 0x01
		}
		if c.prof, err = ntag424.NewProfile(cfg.Layout, keys); err != nil {
			return nil, err
		}
		if c.prof.Layout().Mode == ntag424.ModeEncFile {
			c.fileData = bytes.Clone(cfg.FileData)
			if len(c.fileData) == 0 {
				c.fileData = bytes.Clone(defaultFileData)
			}
		}
	}
	// A trial mirror checks the file data and that the file fits, without
	// touching c.rand (the URL length does not depend on the randomness).
	url, err := c.mirror(c.ctr, zeroReader{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := encodeNDEF(url); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, nil
}

// zeroReader reads zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// mirror returns the URL the tag serves with SDMReadCtr = ctr.
func (c *Card) mirror(ctr uint32, rand io.Reader) (string, error) {
	if c.noSUN {
		return c.url, nil
	}
	d := ntag424.TagData{UID: c.uid, Ctr: ctr, TT: c.tt, FileData: c.fileData}
	return c.prof.MirrorURL(c.url, d, rand)
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
// advanced it, or Config.Counter before any.
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
// first read.
func (c *Card) LastURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastURL
}

// Presentation marks a new tap: the tag enters the field afresh, with the
// PICC level selected, and the next read of the NDEF file mirrors a new
// counter value.
func (c *Card) Presentation() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.present()
}

func (c *Card) present() {
	c.deselect()
	c.ndef = nil
	c.gone = false
}

// deselect returns to the PICC level, as after activation.
func (c *Card) deselect() {
	c.app, c.ef, c.chain = false, fileNone, 0
}

// ATR returns the PC/SC pseudo-ATR, or nothing once the tag was pulled out
// (FaultRemoved), which makes vpcd report the slot empty.
func (c *Card) ATR() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return []byte{}
	}
	return bytes.Clone(atr[:])
}

// PowerOn is called when the reader powers the card up. The tag restarts
// at the PICC level but stays in the same presentation: pcscd powers an
// idle card down and up again while it sits in the field.
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
// (FaultRemoved).
func (c *Card) Transmit(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return []byte{}
	}
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
		switch cmd.ins {
		case insSelect:
			return c.selectFile(cmd)
		case insReadBinary:
			return c.readBinary(cmd)
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
// returned, whatever P2 asks for.
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
	c.app, c.ef = true, fileNone
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

// readBinary answers ISOReadBinary (NT4H2421Gx §10.9.2, tables 87-89).
func (c *Card) readBinary(cmd command) []byte {
	if cmd.data != nil || !cmd.hasLe {
		return status(swWrongLength)
	}
	if c.abortChain() {
		return status(swConditions)
	}
	var off int
	f := c.ef
	if cmd.p1&0x80 != 0 {
		// P1 = 1 0 0 SFI: read, and select, the file with that short ISO
		// FileID; P2 is the offset. SFI 00 means the current file.
		if cmd.p1&0x60 != 0 {
			return status(swWrongP1P2)
		}
		switch sfi := cmd.p1 & 0x1F; sfi {
		case 0x00:
		case 0x1F:
			return status(swWrongP1P2)
		default:
			f = fileNo(sfi)
			if !c.app || f > fileProp {
				return status(swFileNotFound)
			}
			c.ef = f
		}
		off = int(cmd.p2)
	} else {
		off = int(cmd.p1)<<8 | int(cmd.p2)
	}
	if f == fileNone {
		return status(swConditions)
	}
	var content []byte
	end := 0 // where the readable bytes stop; the file size unless FaultShort
	switch f {
	case fileCC:
		content, end = ccFile[:], ccSize
	case fileProp:
		// Read access is key 2 on a factory tag: no free access.
		return status(swSecurity)
	case fileNDEF:
		switch c.fault {
		case FaultReadRefused:
			return status(swSecurity)
		case FaultWrongLength:
			return status(swWrongLength)
		}
		if off >= ndefSize {
			return status(swWrongP1P2)
		}
		file, sw := c.ndefFile()
		if sw != swOK {
			return status(sw)
		}
		content, end = file, ndefSize
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

// ndefFile returns this presentation's NDEF file, building it on the first
// read: that read advances SDMReadCtr and mirrors it (or, on a Replay card,
// every second tap re-serves the previous file unchanged).
func (c *Card) ndefFile() ([]byte, uint16) {
	if c.ndef != nil {
		return c.ndef, swOK
	}
	var url string
	switch {
	case c.noSUN:
		url = c.url
	case c.replayNext:
		url = c.lastURL
		c.replayNext = false
	default:
		if c.ctr >= maxCtr {
			return nil, swSecurity
		}
		u, err := c.mirror(c.ctr+1, c.rand)
		if err != nil {
			return nil, swMemoryFailure // rand failed
		}
		c.ctr++
		url = u
		c.replayNext = c.replay
	}
	file, err := encodeNDEF(url)
	if err != nil {
		return nil, swMemoryFailure // cannot happen: New checked the length
	}
	c.ndef, c.lastURL = file, url
	c.taps++
	return file, swOK
}

// native answers ISO-wrapped native commands (NT4H2421Gx §8.4): 90 INS 00
// 00 [Lc data] 00, answered with data and 91 status.
func (c *Card) native(cmd command) []byte {
	if cmd.ins == cmdAdditionalFrame {
		return c.additionalFrame(cmd)
	}
	if c.abortChain() {
		return status(swNativeAborted)
	}
	switch cmd.ins {
	case cmdGetVersion, cmdReadSig, cmdGetCardUID:
		if cmd.p1 != 0 || cmd.p2 != 0 {
			return status(swWrongP1P2)
		}
	default:
		return status(swNativeIllegalCmd)
	}
	switch cmd.ins {
	case cmdGetVersion:
		if len(cmd.data) != 0 {
			return status(swNativeLength)
		}
		c.chain = 1
		return respond(versionHW[:], swNativeMore)
	case cmdReadSig:
		if len(cmd.data) != 1 {
			return status(swNativeLength)
		}
		if cmd.data[0] != 0x00 { // the only address
			return status(swNativeParameter)
		}
		return respond(c.sig[:], swNativeOK)
	case cmdGetCardUID:
		if len(cmd.data) != 0 {
			return status(swNativeLength)
		}
		// Needs an authentication, which this card does not implement.
		return status(swNativeAuth)
	}
	return nil // unreachable: the first switch returned
}

// additionalFrame sends the next GetVersion frame.
func (c *Card) additionalFrame(cmd command) []byte {
	if c.chain == 0 {
		return status(swNativeIllegalCmd)
	}
	if cmd.p1 != 0 || cmd.p2 != 0 || len(cmd.data) != 0 {
		c.chain = 0
		return status(swNativeLength)
	}
	c.chain++
	if c.chain == 2 {
		return respond(versionSW[:], swNativeMore)
	}
	c.chain = 0
	prod := make([]byte, 0, len(c.uid)+len(versionProd))
	prod = append(append(prod, c.uid[:]...), versionProd[:]...)
	return respond(prod, swNativeOK)
}
