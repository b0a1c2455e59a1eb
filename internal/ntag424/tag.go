package ntag424

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nfcd/nfcd/internal/ndef"
)

// ReadNDEF reads the NDEF file of the tag in the field: NLEN (2 bytes, big
// endian) followed by the NDEF message, NLEN+2 bytes in all. n is the number
// of APDUs sent, also on error.
//
// On an NTAG 424 DNA this takes 2 APDUs. ISOSelectFile picks the
// application by DF name D2760000850101 (NT4H2421Gx §10.9.1), then one
// ISOReadBinary names the NDEF file by its short file identifier and asks
// for up to 256 bytes (§10.9.2), which holds the tag's whole 256-byte NDEF
// file. The first read also counts as the SUN tap: it is what moves the
// SDMReadCtr and mirrors a fresh MAC (§9.3).
//
// A longer file (other Type 4 tags, up to 32 KiB) continues with READ BINARY
// at plain offsets into the file the first read selected. A tag that does
// not know the short file identifier (6A82, 6A86) gets ISOSelectFile E104h
// and plain reads instead, 2 APDUs more. A 6CXX answer is retried once with
// the Le it names.
//
// Bytes from the tag are checked, never trusted: a response longer than Le,
// an NLEN beyond 32 KiB or beyond the end of the file, or a read that makes
// no progress is an error wrapping ErrBadResponse. A refusal is a
// *StatusError, wrapped with the step: "select NDEF application: …" or
// "read NDEF file: …".
func ReadNDEF(ctx context.Context, t Transmitter) (file []byte, n int, err error) {
	sel := apduSelectNDEFApp
	n++
	_, sw, err := exchange(ctx, t, sel[:])
	if err == nil && sw != StatusOK {
		err = &StatusError{Cmd: "SelectFile", SW: sw}
	}
	if err != nil {
		return nil, n, fmt.Errorf("select NDEF application: %w", err)
	}
	file, k, err := readNDEFFile(ctx, t)
	n += k
	if err != nil {
		return nil, n, fmt.Errorf("read NDEF file: %w", err)
	}
	return file, n, nil
}

// readNDEFFile reads NLEN and the message from the NDEF file of the selected
// application.
func readNDEFFile(ctx context.Context, t Transmitter) (file []byte, n int, err error) {
	want := nlenSize // until NLEN is known
	bySFI := true
	eof := false
	for len(file) < want {
		if eof {
			return nil, n, fmt.Errorf("%w: NLEN %d runs past the end of the %d-byte file", ErrBadResponse, want-nlenSize, len(file))
		}
		off := len(file)
		le := maxShortLe
		if want > nlenSize {
			le = min(want-off, maxShortLe)
		}
		var p1, p2 byte
		if bySFI {
			p1, p2 = readBinarySFI|ndefSFI, 0x00
		} else {
			p1, p2 = byte(off>>8), byte(off) // off < maxNDEFFile: 15 bits
		}
		data, atEOF, k, err := readBinary(ctx, t, p1, p2, le)
		n += k
		if bySFI && (errors.Is(err, ErrFileNotFound) || errors.Is(err, ErrParameter)) {
			// The tag does not map the NDEF file to this short file
			// identifier: select it by file identifier and read plainly.
			bySFI = false
			sel := apduSelectNDEFFile
			n++
			_, sw, err := exchange(ctx, t, sel[:])
			if err == nil && sw != StatusOK {
				err = &StatusError{Cmd: "SelectFile", SW: sw}
			}
			if err != nil {
				return nil, n, fmt.Errorf("select NDEF file: %w", err)
			}
			continue
		}
		if err != nil {
			return nil, n, err
		}
		bySFI = false
		eof = atEOF
		if len(data) == 0 && !eof {
			return nil, n, fmt.Errorf("%w: READ BINARY returned no data at offset %d", ErrBadResponse, off)
		}
		file = append(file, data...)
		if want == nlenSize && len(file) >= nlenSize {
			want += int(file[0])<<8 | int(file[1])
			if want > maxNDEFFile {
				return nil, n, fmt.Errorf("%w: NLEN %d exceeds the %d-byte limit", ErrBadResponse, want-nlenSize, maxNDEFFile-nlenSize)
			}
		}
	}
	return file[:want:want], n, nil
}

// ReadURL reads the NDEF file with ReadNDEF and returns the URL of its first
// URI record (or Smart Poster). n is the number of APDUs sent.
func ReadURL(ctx context.Context, t Transmitter) (url string, n int, err error) {
	file, n, err := ReadNDEF(ctx, t)
	if err != nil {
		return "", n, err
	}
	url, err = urlOf(file)
	return url, n, err
}

// urlOf returns the first URI of an NDEF file.
func urlOf(file []byte) (string, error) {
	m, err := ndef.ParseFile(file)
	if err != nil {
		return "", fmt.Errorf("parse NDEF file: %w", err)
	}
	u, err := m.FirstURI()
	if err != nil {
		return "", fmt.Errorf("find URL: %w", err)
	}
	return u, nil
}

// VersionInfo is one of the first two GetVersion frames: hardware or
// software identification (NT4H2421Gx §10.5.2 Tables 54 and 56).
type VersionInfo struct {
	VendorID    byte // 04h: NXP
	Type        byte // 04h: NTAG
	SubType     byte // hardware: low nibble 2h = 50 pF (8h on the TagTamper variant), high nibble 0h strong / 8h standard back modulation
	Major       byte // hardware 30h
	Minor       byte
	StorageSize byte // 11h: between 256 and 512 bytes
	Protocol    byte // 05h: ISO/IEC 14443-4
}

// Version is what GetVersion returns (NT4H2421Gx §10.5.2).
type Version struct {
	Hardware VersionInfo
	Software VersionInfo

	// UID is the 7-byte UID, or all zeros when the tag is configured for
	// Random ID (Table 58).
	UID []byte
	// BatchNo is the 36-bit production batch number.
	BatchNo uint64
	// FabKey is the 5-bit fabrication key identifier; 0 is NXP's default.
	FabKey byte
	// ProductionWeek and ProductionYear are as the tag sends them,
	// binary-coded decimal: AN12196 Table 13 shows week 21h of year 18h.
	ProductionWeek byte
	ProductionYear byte
	// FabKeyID is the optional sixteenth byte of frame 3, present on
	// customised tags whose FabKey is 1Fh; HasFabKeyID reports it.
	FabKeyID    byte
	HasFabKeyID bool
}

// IsNTAG424DNA reports whether v identifies an NTAG 424 DNA or NTAG 424 DNA
// TagTamper: vendor NXP, hardware type NTAG (04h), subtype 50 pF (x2h, or
// x8h on TagTamper as in AN12196 Table 13), hardware major version 30h.
func (v *Version) IsNTAG424DNA() bool {
	h := v.Hardware
	sub := h.SubType & 0x0F
	return h.VendorID == 0x04 && h.Type == 0x04 && (sub == 0x02 || sub == 0x08) && h.Major == 0x30
}

// IsTagTamper reports whether v identifies the NTAG 424 DNA TagTamper
// variant (hardware subtype x8h, AN12196 Table 13).
func (v *Version) IsTagTamper() bool { return v.IsNTAG424DNA() && v.Hardware.SubType&0x0F == 0x08 }

// RandomID reports whether the tag hides its UID behind Random ID: frame 3
// then carries zeros (Table 58) and only an authenticated GetCardUID, or
// the SUN message, reveals it.
func (v *Version) RandomID() bool {
	return len(v.UID) == 0 || bytes.Count(v.UID, []byte{0}) == len(v.UID)
}

// Produced decodes the BCD production date: year (2000-2099) and calendar
// week. ok is false when the bytes are not valid BCD or the week is not 1-53.
func (v *Version) Produced() (year, week int, ok bool) {
	y, ok1 := fromBCD(v.ProductionYear)
	w, ok2 := fromBCD(v.ProductionWeek)
	if !ok1 || !ok2 || w < 1 || w > 53 {
		return 0, 0, false
	}
	return 2000 + y, w, true
}

func fromBCD(b byte) (int, bool) {
	hi, lo := b>>4, b&0x0F
	if hi > 9 || lo > 9 {
		return 0, false
	}
	return int(hi)*10 + int(lo), true
}

// GetVersion frame sizes, §10.5.2 Tables 54, 56 and 58.
const (
	versionInfoSize     = 7
	versionProdSize     = 14 // UID 7, BatchNo 4, BatchNo/FabKey 1, FabKey/CWProd 1, YearProd 1
	versionProdSizeMax  = 15 // plus the optional FabKeyID
	versionUIDSize      = 7
	versionBatchNoBytes = 4
)

// GetVersion asks the tag for its hardware, software and production data,
// three frames: 90 60 00 00 00, then 90 AF 00 00 00 twice while the tag
// answers 91AF (NT4H2421Gx §10.5.2). The command is free without
// authentication (§10.5.2: "freely accessible … as soon as the PD is
// selected"), at PICC level and equally after ReadNDEF selected the NDEF
// application, so it can follow the NDEF read in the same tap.
//
// A refusal is a *StatusError (a tag outside the DESFire family answers
// 6D00 or 6E00, which match ErrNotSupported); a frame of the wrong size, or
// a final status too early or too late, wraps ErrBadResponse.
func GetVersion(ctx context.Context, t Transmitter) (*Version, error) {
	var frames [3][]byte
	for i := range frames {
		var apdu [5]byte
		if i == 0 {
			apdu = apduGetVersion
		} else {
			apdu = apduNextFrame
		}
		data, sw, err := exchange(ctx, t, apdu[:])
		if err != nil {
			return nil, fmt.Errorf("get version frame %d: %w", i+1, err)
		}
		last := i == len(frames)-1
		switch {
		case sw == StatusAdditionalFrame && !last, sw == StatusNativeOK && last:
		case sw == StatusNativeOK || sw == StatusAdditionalFrame:
			return nil, fmt.Errorf("get version frame %d: %w: status %v", i+1, ErrBadResponse, sw)
		default:
			return nil, fmt.Errorf("get version frame %d: %w", i+1, &StatusError{Cmd: "GetVersion", SW: sw})
		}
		frames[i] = data
	}
	return parseVersion(frames[0], frames[1], frames[2])
}

// parseVersion decodes the three GetVersion frames.
func parseVersion(hw, sw, prod []byte) (*Version, error) {
	if len(hw) != versionInfoSize || len(sw) != versionInfoSize {
		return nil, fmt.Errorf("%w: GetVersion frames of %d and %d bytes, want %d", ErrBadResponse, len(hw), len(sw), versionInfoSize)
	}
	if len(prod) != versionProdSize && len(prod) != versionProdSizeMax {
		return nil, fmt.Errorf("%w: GetVersion frame 3 of %d bytes, want %d or %d", ErrBadResponse, len(prod), versionProdSize, versionProdSizeMax)
	}
	v := &Version{
		Hardware: versionInfo(hw),
		Software: versionInfo(sw),
		UID:      bytes.Clone(prod[:versionUIDSize]),
	}
	// Table 58: BatchNo is 4 bytes and the high nibble of byte 11; FabKey
	// the low nibble of byte 11 and bit 7 of byte 12, whose bits 6-0 are
	// the production week.
	b := prod[versionUIDSize:]
	for _, c := range b[:versionBatchNoBytes] {
		v.BatchNo = v.BatchNo<<8 | uint64(c)
	}
	v.BatchNo = v.BatchNo<<4 | uint64(b[4]>>4)
	v.FabKey = (b[4]&0x0F)<<1 | b[5]>>7
	v.ProductionWeek = b[5] & 0x7F
	v.ProductionYear = b[6]
	if len(prod) == versionProdSizeMax {
		v.FabKeyID, v.HasFabKeyID = b[7], true
	}
	return v, nil
}

func versionInfo(b []byte) VersionInfo {
	return VersionInfo{VendorID: b[0], Type: b[1], SubType: b[2], Major: b[3], Minor: b[4], StorageSize: b[5], Protocol: b[6]}
}

// GetUID asks the reader for the UID of the tag in the field with the PC/SC
// Part 3 GET DATA pseudo-APDU FF CA 00 00 00. The reader answers from
// anticollision, so this works for any ISO/IEC 14443 tag, SUN or not; with
// Random ID enabled it is a random 4-byte ID (NT4H2421Gx §8.2.1). A UID
// that is not 4, 7 or 10 bytes wraps ErrBadResponse.
func GetUID(ctx context.Context, t Transmitter) ([]byte, error) {
	apdu := apduGetUID
	data, sw, err := exchange(ctx, t, apdu[:])
	if err == nil && sw != StatusOK {
		err = &StatusError{Cmd: "GetUID", SW: sw}
	}
	if err != nil {
		return nil, fmt.Errorf("get UID: %w", err)
	}
	switch len(data) {
	case 4, 7, 10:
		return bytes.Clone(data), nil
	}
	return nil, fmt.Errorf("get UID: %w: %d-byte UID", ErrBadResponse, len(data))
}

// ReadSig reads the 56-byte originality signature with Read_Sig of address
// 00 (90 3C 00 00 01 00 00; NT4H2421Gx Table 22, AN12196 §8.2).
//
// Without authentication the tag answers in plain with status 9190, as in
// AN12196 Table 30; 9100 is accepted too. The data sheet lists Read_Sig as
// CommMode.Full: after an authentication the signature comes back
// encrypted, which this function does not handle (nfcd never authenticates
// before reading it). A tag configured to refuse it answers 91AE, a
// *StatusError matching ErrAuth. Check the result with VerifyOriginality.
func ReadSig(ctx context.Context, t Transmitter) ([]byte, error) {
	apdu := apduReadSig
	data, sw, err := exchange(ctx, t, apdu[:])
	if err == nil && sw != StatusSignature && sw != StatusNativeOK {
		err = &StatusError{Cmd: "ReadSig", SW: sw}
	}
	if err != nil {
		return nil, fmt.Errorf("read signature: %w", err)
	}
	if len(data) != OriginalitySignatureSize {
		return nil, fmt.Errorf("read signature: %w: %d bytes, want %d", ErrBadResponse, len(data), OriginalitySignatureSize)
	}
	return bytes.Clone(data), nil
}

// ErrRandomID: the tag is configured for Random ID, so GetVersion returns
// no UID and the originality signature, which covers the UID, cannot be
// checked without authenticating.
var ErrRandomID = errors.New("ntag424: Random ID hides the UID")

// OriginalityStatus is the outcome of the originality check in ReadTag.
type OriginalityStatus uint8

const (
	// OriginalityUnchecked: ReadOptions.Originality was off.
	OriginalityUnchecked OriginalityStatus = iota
	// OriginalityValid: the signature verifies under NXP's key for the UID.
	OriginalityValid
	// OriginalityInvalid: the tag returned a signature that does not verify.
	OriginalityInvalid
	// OriginalityUnavailable: no signature could be checked: Read_Sig
	// refused (91AE), Random ID hides the UID, the tag is not an NTAG 424
	// DNA, or the tag left the field. TagRead.OriginalityErr says why.
	OriginalityUnavailable
)

var originalityNames = [...]string{"unchecked", "valid", "invalid", "unavailable"}

// String returns "unchecked", "valid", "invalid" or "unavailable".
func (s OriginalityStatus) String() string {
	if int(s) < len(originalityNames) {
		return originalityNames[s]
	}
	return fmt.Sprintf("OriginalityStatus(%d)", s)
}

// ReadOptions tunes ReadTag. The zero value reads the URL in 2 APDUs.
type ReadOptions struct {
	// Originality adds GetVersion (3 APDUs) and Read_Sig (1 APDU) after the
	// NDEF read and verifies the originality signature. Off by default to
	// keep a tap at 2 APDUs.
	Originality bool
	// NeedUID, if set, is called with the URL (empty when the NDEF file has
	// none) when no UID is known yet; returning true sends GET DATA
	// FF CA 00 00 00 for the reader's anticollision UID, 1 more APDU. A
	// caller returns true for URLs no SUN profile matches: a SUN URL
	// carries an authenticated UID of its own.
	NeedUID func(url string) bool
	// Now is the clock for Timings; nil means time.Now.
	Now func() time.Time
}

// Timings are the durations of one tap's exchanges, measured around each
// Transmit call.
type Timings struct {
	APDU  []time.Duration // one per APDU, in order
	Total time.Duration   // from the first APDU to the last response
}

// TagRead is what one ReadTag call learned from the tag.
type TagRead struct {
	// UID is the tag's UID when known: from GetVersion when Originality is
	// on (nil under Random ID), else from GET DATA when NeedUID asked for
	// it. A SUN URL's UID is the caller's to take from Profile.Verify.
	UID []byte
	// NDEF is the NDEF file, NLEN and message.
	NDEF []byte
	// URL is the first URI of the NDEF message.
	URL string
	// Version is the GetVersion result, nil unless Originality was on and
	// GetVersion succeeded.
	Version *Version
	// Signature is the 56-byte Read_Sig signature, or nil.
	Signature []byte
	// Originality is the outcome of the originality check, and
	// OriginalityErr the reason when it is OriginalityInvalid (wrapping
	// ErrNotOriginal) or OriginalityUnavailable.
	Originality    OriginalityStatus
	OriginalityErr error
	// APDUs is the number of command APDUs sent, also on error.
	APDUs int
	// Timings holds the duration of every APDU.
	Timings Timings
}

// ReadTag performs one tap: it reads the NDEF file and its URL (ReadNDEF,
// 2 APDUs on an NTAG 424 DNA) and, as opts asks, the UID and the
// originality signature.
//
// ReadTag does not verify the SUN message. The caller matches the URL to a
// Profile and calls Profile.Verify, which yields the authenticated UID and
// counter; a URL that matches no profile is a plain tag, and NeedUID lets
// the caller fetch its UID in the same tap.
//
// An error reading the NDEF file, a malformed NDEF message or a failed GET
// DATA fails the tap: err is non-nil and the TagRead holds what was read
// before (always APDUs and Timings). An empty NDEF file or a message without
// a URI record is no error: URL is then "". A failure in the originality
// step does not fail the tap either; it shows as OriginalityUnavailable
// with the reason in OriginalityErr.
//
// All exchanges run on the calling goroutine, one after another.
func ReadTag(ctx context.Context, t Transmitter, opts ReadOptions) (r TagRead, err error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	tt := &timedTransmitter{t: t, now: now}
	tt.durations = tt.buf[:0]
	defer func() {
		r.APDUs = len(tt.durations)
		r.Timings = Timings{APDU: tt.durations, Total: tt.last.Sub(tt.first)}
	}()

	if r.NDEF, _, err = ReadNDEF(ctx, tt); err != nil {
		return r, err
	}
	r.URL, err = urlOf(r.NDEF)
	if err != nil && !errors.Is(err, ndef.ErrNoURI) && !errors.Is(err, ndef.ErrNoMessage) {
		return r, err
	}
	if opts.Originality {
		r.Version, r.Signature, r.Originality, r.OriginalityErr = checkOriginality(ctx, tt)
		if r.Version != nil && !r.Version.RandomID() {
			r.UID = r.Version.UID
		}
	}
	if r.UID == nil && opts.NeedUID != nil && opts.NeedUID(r.URL) {
		if r.UID, err = GetUID(ctx, tt); err != nil {
			return r, err
		}
	}
	return r, nil
}

// checkOriginality runs GetVersion and Read_Sig and verifies the signature.
func checkOriginality(ctx context.Context, t Transmitter) (*Version, []byte, OriginalityStatus, error) {
	v, err := GetVersion(ctx, t)
	if err != nil {
		return nil, nil, OriginalityUnavailable, err
	}
	if !v.IsNTAG424DNA() {
		return v, nil, OriginalityUnavailable, ErrNotNTAG424
	}
	if v.RandomID() {
		return v, nil, OriginalityUnavailable, ErrRandomID
	}
	sig, err := ReadSig(ctx, t)
	if err != nil {
		return v, nil, OriginalityUnavailable, err
	}
	if err := VerifyOriginality(v.UID, sig); err != nil {
		return v, sig, OriginalityInvalid, err
	}
	return v, sig, OriginalityValid, nil
}

// timedTransmitter times every exchange of one tap.
type timedTransmitter struct {
	t           Transmitter
	now         func() time.Time
	first, last time.Time
	durations   []time.Duration
	buf         [8]time.Duration
}

func (tt *timedTransmitter) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	start := tt.now()
	if len(tt.durations) == 0 {
		tt.first = start
	}
	rsp, err := tt.t.Transmit(ctx, apdu)
	tt.last = tt.now()
	tt.durations = append(tt.durations, tt.last.Sub(start))
	return rsp, err
}
