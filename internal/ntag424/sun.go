package ntag424

import (
	"crypto/subtle"
	"strconv"

	"github.com/nfcd/nfcd/internal/aescmac"
)

// Key is a 16-byte AES-128 key.
type Key [16]byte

// UIDLen is the length of an NTAG 424 DNA UID in bytes.
const UIDLen = 7

// MaxFileData is the largest SDMENCFileData accepted, in bytes. The NDEF
// file of an NTAG 424 DNA holds 256 bytes, so no tag mirrors more.
const MaxFileData = 256

// Keys are the SDM keys of a profile.
type Keys struct {
	// FileRead is the SDMFileReadKey (session keys, SDMMAC, SDMENCFileData).
	// With Diversify set it is the master key that each tag's key is
	// diversified from.
	FileRead Key
	// MetaRead is the SDMMetaReadKey that decrypts PICCData (enc modes).
	MetaRead Key
	// Diversify derives the per-tag SDMFileReadKey from FileRead with NXP
	// AN10922 (AES-128), with the UID followed by DivInput as input.
	Diversify bool
	// DivInput is appended to the UID as AN10922 diversification input
	// (for example an application ID and a system identifier).
	DivInput []byte
}

// Profile is a compiled tag personalisation: a validated Layout and its keys
// with the expanded AES state cached, so that Verify does not rebuild it per
// tap. A Profile is safe for concurrent use.
type Profile struct {
	layout   Layout
	diverse  bool
	divInput []byte
	master   Key
	file     aescmac.MAC      // CMAC under SDMFileReadKey: session keys (AES)
	meta     aescmac.DecBlock // SDMMetaReadKey: PICCData decryption (AES)
	lrp      lrpKeys          // LRP state (CryptoLRP)
	// wanted are the URL parameters the layout reads; required must be there.
	wanted, required []wantedParam
	shape            shapeCache // the last verified URL's shape
}

// NewProfile validates l and prepares the keys. The error is a
// *FormatError for an impossible layout, such as a TagTamper status or
// SDMENCFileData outside the MAC input window.
func NewProfile(l Layout, k Keys) (*Profile, error) {
	l, err := l.validate()
	if err != nil {
		return nil, err
	}
	if k.Diversify && len(k.DivInput) > 31-UIDLen {
		return nil, formatErr("div_input", "AN10922 input longer than 31 bytes")
	}
	p := &Profile{layout: l, diverse: k.Diversify, divInput: append([]byte(nil), k.DivInput...)}
	p.wanted, p.required = wantedParams(&p.layout)
	switch l.Crypto {
	case CryptoAES:
		if !k.Diversify {
			p.file.Init((*[16]byte)(&k.FileRead))
		}
		if l.Mode != ModePlain {
			p.meta.Init((*[16]byte)(&k.MetaRead))
		}
	case CryptoLRP:
		p.lrp.init(&k.FileRead, &k.MetaRead, k.Diversify, l.Mode != ModePlain)
	}
	if k.Diversify {
		p.master = k.FileRead
	}
	return p, nil
}

// Layout returns the profile's layout with defaults filled in.
func (p *Profile) Layout() Layout { return p.layout }

// Result is what a verified SUN message says about the tap.
type Result struct {
	UID [UIDLen]byte
	// Ctr is the SDMReadCtr; not Valid for tags that do not mirror it.
	Ctr Counter
	// TT is the TagTamper status ("CC", "OO", ...), when HasTT.
	TT    [2]byte
	HasTT bool
	// PICCDataTag is the first byte of the decrypted PICCData (enc modes).
	PICCDataTag    byte
	HasPICCDataTag bool

	fileData []byte
}

// FileData returns the decrypted SDMENCFileData (ModeEncFile), or nil.
func (r *Result) FileData() []byte {
	return r.fileData
}

// work is the per-verify scratch state. It lives on Verify's stack: the
// AES-NI block functions let no buffer escape, so a verify allocates
// nothing.
type work struct {
	ses     aescmac.MAC
	sv, x   [16]byte
	key     [16]byte
	mac     [8]byte
	picc    [24]byte
	divBuf  [32]byte
	fileKey Key
	enc     []byte // SDMENCFileData, decrypted in place (ModeEncFile only)
}

// Verify checks the SUN message in rawURL, exactly as the tag delivered it.
// On success it returns the tag's identity and counter; otherwise the zero
// Result and one of ErrBadMAC, a *FormatError or a *PICCDataError. It never
// panics, whatever the input.
//
// Verify does not check the counter against earlier taps: replay detection
// needs durable state and belongs to the caller.
func (p *Profile) Verify(rawURL string) (Result, error) {
	var w work
	var r Result
	if err := p.verifyShaped(rawURL, &w, &r); err != nil {
		return Result{}, err
	}
	return r, nil
}

// Parameter slots a layout can want, in the order missing ones are
// reported.
const (
	slotCMAC = iota
	slotUID
	slotCtr
	slotPICC
	slotEnc
	slotTT
	slotMACStart // the parameter named by MACInputStart
	slotMACAlias // its alias when MACInputStart is a logical name ("enc")
	numSlots
)

var slotFields = [numSlots]string{"cmac", "uid", "ctr", "picc_data", "enc", "tt", "mac_input_start", "mac_input_start"}

// wantedParam is a URL parameter name the layout reads into slot.
type wantedParam struct {
	name string
	key  uint64 // nameKey(name)
	slot uint8
}

// wantedParams returns every parameter name the layout reads, and the
// subset that must be present, in reporting order.
func wantedParams(l *Layout) (wanted, required []wantedParam) {
	add := func(name string, slot uint8, req bool) {
		w := wantedParam{name, nameKey(name), slot}
		wanted = append(wanted, w)
		if req {
			required = append(required, w)
		}
	}
	add(l.Names.CMAC, slotCMAC, true)
	switch l.Mode {
	case ModePlain:
		add(l.Names.UID, slotUID, true)
		if !l.NoCtr {
			add(l.Names.Ctr, slotCtr, true)
		}
	default:
		add(l.Names.PICCData, slotPICC, true)
		if l.Mode == ModeEncFile {
			add(l.Names.Enc, slotEnc, true)
		}
	}
	if l.TTParam {
		add(l.Names.TT, slotTT, true)
	}
	if !l.emptyWindow() {
		add(l.MACInputStart, slotMACStart, false)
		if alias, ok := l.Names.byLogical(l.MACInputStart); ok && alias != l.MACInputStart {
			add(alias, slotMACAlias, false)
		}
	}
	return wanted, required
}

// params are the positions of the SUN parameters in the URL.
type params struct {
	uid, ctr, cmac, picc, enc, tt span
	macStart                      int
	hasTT, hasEnc                 bool
}

func (p *Profile) locate(rawURL string, q *query) (params, error) {
	var ps params
	l := &p.layout
	if err := parseQuery(rawURL, q); err != nil {
		return ps, err
	}
	// One pass over the parameters fills every slot the layout wants.
	var found [numSlots]span
	var have uint16
	for j := 0; j < q.n; j++ {
		name, key := q.name(rawURL, j), q.keys[j]
		for _, w := range p.wanted {
			if sameName(key, w.key, name, w.name) {
				found[w.slot] = q.val(j)
				have |= 1 << w.slot
			}
		}
	}
	for _, w := range p.required {
		if have&(1<<w.slot) == 0 {
			return ps, formatErr(slotFields[w.slot], "missing parameter "+quoteName(w.name))
		}
	}
	ps.cmac, ps.uid, ps.ctr, ps.picc, ps.enc, ps.tt = found[slotCMAC], found[slotUID], found[slotCtr], found[slotPICC], found[slotEnc], found[slotTT]
	ps.hasEnc, ps.hasTT = l.Mode == ModeEncFile, l.TTParam
	// The MAC input window: SDMMACInputOffset .. SDMMACOffset (§9.3.6).
	ps.macStart = ps.cmac.start
	if !l.emptyWindow() {
		switch {
		case have&(1<<slotMACStart) != 0:
			ps.macStart = found[slotMACStart].start
		case have&(1<<slotMACAlias) != 0:
			ps.macStart = found[slotMACAlias].start
		default:
			return ps, formatErr("mac_input_start", "missing parameter "+quoteName(l.MACInputStart))
		}
		if ps.macStart > ps.cmac.start {
			return ps, formatErr("mac_input_start", "window starts after the MAC")
		}
	}
	inWindow := func(s span) bool { return s.start >= ps.macStart && s.end <= ps.cmac.start }
	if ps.hasTT && !inWindow(ps.tt) {
		return ps, formatErr("tt", "TagTamper status outside the MAC input window")
	}
	if ps.hasEnc && !inWindow(ps.enc) {
		return ps, formatErr("enc", "SDMENCFileData outside the MAC input window")
	}
	return ps, nil
}

// hexField decodes the value at s into dst, which fixes the expected length.
func hexField(dst []byte, rawURL string, s span, field string) error {
	if s.len() != 2*len(dst) {
		return formatErr(field, "want "+strconv.Itoa(2*len(dst))+" hex digits, got "+strconv.Itoa(s.len()))
	}
	if !decodeHex(dst, rawURL[s.start:s.end]) {
		return formatErr(field, "not upper-case hex")
	}
	return nil
}

// verifyAt verifies rawURL whose parameters sit at ps.
func (p *Profile) verifyAt(rawURL string, ps params, w *work, r *Result) error {
	l := &p.layout
	if err := hexField(w.mac[:], rawURL, ps.cmac, "cmac"); err != nil {
		return err
	}
	if ps.hasTT {
		if ps.tt.len() != 2 {
			return formatErr("tt", "want 2 characters, got "+strconv.Itoa(ps.tt.len()))
		}
		r.TT = [2]byte{rawURL[ps.tt.start], rawURL[ps.tt.start+1]}
		r.HasTT = true
	}
	if ps.hasEnc {
		n := ps.enc.len()
		if n == 0 || n%32 != 0 {
			return formatErr("enc", "want a positive multiple of 32 hex digits, got "+strconv.Itoa(n))
		}
		if n/2 > MaxFileData {
			return formatErr("enc", "longer than "+strconv.Itoa(2*MaxFileData)+" hex digits")
		}
		// The one allocation of an encfile verify: decrypted in place, it
		// becomes the Result's file data.
		w.enc = make([]byte, n/2)
		if !decodeHex(w.enc, rawURL[ps.enc.start:ps.enc.end]) {
			return formatErr("enc", "not upper-case hex")
		}
	}

	// Identity and counter: plain hex, or decrypted PICCData (§9.3.4).
	switch l.Mode {
	case ModePlain:
		if err := hexField(r.UID[:], rawURL, ps.uid, "uid"); err != nil {
			return err
		}
		if !l.NoCtr {
			var c [3]byte
			if err := hexField(c[:], rawURL, ps.ctr, "ctr"); err != nil {
				return err
			}
			// The mirrored counter is shown most significant byte first.
			r.Ctr.Value = uint32(c[0])<<16 | uint32(c[1])<<8 | uint32(c[2])
			r.Ctr.Valid = true
		}
	default:
		n := 16
		if l.Crypto == CryptoLRP {
			n = 24 // 8-byte PICCRand, then the 16-byte ciphertext
		}
		if err := hexField(w.picc[:n], rawURL, ps.picc, "picc_data"); err != nil {
			return err
		}
		if l.Crypto == CryptoLRP {
			if err := p.lrp.decryptPICC(&w.x, w.picc[:n]); err != nil {
				return err
			}
		} else {
			p.meta.Decrypt(&w.x, (*[16]byte)(w.picc[:16])) // AES-CBC, IV = 0, one block
		}
		if err := parsePICCData(&w.x, r); err != nil {
			return err
		}
		if ps.hasEnc && !r.Ctr.Valid {
			return &PICCDataError{Msg: "SDMENCFileData needs the counter mirrored"}
		}
	}

	fileKey := p.fileKeyFor(w, r)
	sessionVector(&w.sv, l.Crypto, r)
	var macOK bool
	switch l.Crypto {
	case CryptoAES:
		macOK = p.verifyAES(w, fileKey, rawURL[ps.macStart:ps.cmac.start], r)
	case CryptoLRP:
		macOK = p.lrp.verify(w, fileKey, rawURL[ps.macStart:ps.cmac.start], r)
	}
	if !macOK {
		*r = Result{}
		return ErrBadMAC
	}
	if l.TTInEnc {
		if l.TTInEncOffset+2 > len(r.fileData) {
			*r = Result{}
			return formatErr("tt_in_enc_offset", "beyond the decrypted file data")
		}
		r.TT = [2]byte{r.fileData[l.TTInEncOffset], r.fileData[l.TTInEncOffset+1]}
		r.HasTT = true
	}
	return nil
}

// fileKeyFor returns the SDMFileReadKey for this tag: the profile's fixed
// key (nil: use the cached state), or the AN10922 diversification of the
// master key with UID || DivInput.
func (p *Profile) fileKeyFor(w *work, r *Result) *Key {
	if !p.diverse {
		return nil
	}
	m := append(append(w.divBuf[:0], r.UID[:]...), p.divInput...)
	w.fileKey = diversifyKey(&p.master, m)
	return &w.fileKey
}

// parsePICCData reads decrypted PICCData (NT4H2421Gx §9.3.4, Table 8):
// PICCDataTag (b7 UID mirrored, b6 SDMReadCtr mirrored, b5..b4 RFU, b3..b0
// UID length), the UID, SDMReadCtr LSB first, then random padding.
func parsePICCData(pt *[16]byte, r *Result) error {
	tag := pt[0]
	if tag&0x30 != 0 {
		return &PICCDataError{Msg: "PICCDataTag RFU bits set"}
	}
	if tag&0x80 == 0 {
		return &PICCDataError{Msg: "UID not mirrored"}
	}
	if n := tag & 0x0F; n != UIDLen {
		return &PICCDataError{Msg: "UID length " + strconv.Itoa(int(n)) + ", want 7"}
	}
	copy(r.UID[:], pt[1:1+UIDLen])
	if tag&0x40 != 0 {
		r.Ctr.Value = uint32(pt[8]) | uint32(pt[9])<<8 | uint32(pt[10])<<16
		r.Ctr.Valid = true
	}
	r.PICCDataTag = tag
	r.HasPICCDataTag = true
	return nil
}

// sessionVector writes the SDM session vector without its 2-byte label and
// AES (§9.3.9): label || 0001 0080 || UID || SDMReadCtr
// (LSB first) zero-padded to 16 bytes; the caller sets the label (C33C for
// SV1, 3CC3 for SV2). LRP (AN12304 via §9.3.9): 0001 0080 || UID ||
// SDMReadCtr, zero-padded so that the label 1EE1 ends a 16-byte block.
func sessionVector(sv *[16]byte, c Crypto, r *Result) {
	clear(sv[:])
	off := 2
	if c == CryptoLRP {
		off = 0
	}
	copy(sv[off:], []byte{0x00, 0x01, 0x00, 0x80})
	n := off + 4 + copy(sv[off+4:], r.UID[:])
	if r.Ctr.Valid {
		sv[n], sv[n+1], sv[n+2] = byte(r.Ctr.Value), byte(r.Ctr.Value>>8), byte(r.Ctr.Value>>16)
	}
	if c == CryptoLRP {
		sv[14], sv[15] = 0x1E, 0xE1
	}
}

// verifyAES derives the AES session keys, checks the SDMMAC over window
// and decrypts SDMENCFileData into r (§9.3.9, AN12196 §4.3-4.4).
func (p *Profile) verifyAES(w *work, fileKey *Key, window string, r *Result) bool {
	file := &p.file
	if fileKey != nil {
		w.ses.Init((*[16]byte)(fileKey))
		file = &w.ses
	}
	// SesSDMFileReadMACKey = CMAC(SDMFileReadKey, SV2).
	w.sv[0], w.sv[1] = 0x3C, 0xC3
	w.key = file.Sum(w.sv[:])
	var encKey [16]byte
	if w.enc != nil {
		// SesSDMFileReadENCKey = CMAC(SDMFileReadKey, SV1).
		w.sv[0], w.sv[1] = 0xC3, 0x3C
		encKey = file.Sum(w.sv[:])
	}
	t := sdmMACAES(w, window)
	ok := subtle.ConstantTimeCompare(t[:], w.mac[:]) == 1
	clear(w.key[:])
	if !ok || w.enc == nil {
		return ok
	}
	decryptFileAES(&encKey, w.enc, r)
	clear(encKey[:])
	return true
}

// decryptFileAES decrypts SDMENCFileData into r: AES-CBC under
// SesSDMFileReadENCKey with IVe = E(SesSDMFileReadENCKey, SDMReadCtr (LSB
// first) || 0^13) (NT4H2421Gx §9.3.7, AN12196 Table 4). enc is decrypted
// in place.
func decryptFileAES(encKey *[16]byte, enc []byte, r *Result) {
	var b aescmac.DecBlock
	b.Init(encKey)
	var iv, ct [16]byte
	iv[0], iv[1], iv[2] = byte(r.Ctr.Value), byte(r.Ctr.Value>>8), byte(r.Ctr.Value>>16)
	b.Encrypt(&iv, &iv)
	for i := 0; i+16 <= len(enc); i += 16 {
		blk := (*[16]byte)(enc[i : i+16])
		ct = *blk
		b.Decrypt(blk, blk)
		subtle.XORBytes(blk[:], blk[:], iv[:])
		iv = ct
	}
	r.fileData = enc
}

// decryptFile decrypts SDMENCFileData for the tag in r with the profile's
// fixed SDMFileReadKey. It exists for the known-answer tests of the
// decryption step alone; Verify decrypts only after the MAC has verified.
func (p *Profile) decryptFile(r *Result, enc []byte) ([]byte, error) {
	if len(enc) == 0 || len(enc)%16 != 0 || len(enc) > MaxFileData {
		return nil, formatErr("enc", "bad length")
	}
	var w work
	w.enc = append([]byte(nil), enc...)
	sessionVector(&w.sv, p.layout.Crypto, r)
	switch p.layout.Crypto {
	case CryptoLRP:
		if err := p.lrp.decryptFile(&w, nil, w.enc, r); err != nil {
			return nil, err
		}
	default:
		w.sv[0], w.sv[1] = 0xC3, 0x3C
		w.key = p.file.Sum(w.sv[:])
		decryptFileAES(&w.key, w.enc, r)
	}
	return r.FileData(), nil
}

// sdmMACAES computes SDMMAC = MACt(SesSDMFileReadMACKey, input) with the
// session MAC key in w.key (NT4H2421Gx §9.3.6).
func sdmMACAES(w *work, input string) [8]byte {
	w.ses.Init(&w.key)
	return aescmac.Truncate(w.ses.SumString(input))
}

// sdmMAC computes the SDMMAC for the tag in r over input with the profile's
// keys. It exists for the known-answer tests of the MAC step alone.
func (p *Profile) sdmMAC(r *Result, input string) [8]byte {
	w := new(work)
	fileKey := p.fileKeyFor(w, r)
	sessionVector(&w.sv, p.layout.Crypto, r)
	if p.layout.Crypto == CryptoLRP {
		return p.lrp.sdmMAC(w, fileKey, input)
	}
	file := &p.file
	if fileKey != nil {
		w.ses.Init((*[16]byte)(fileKey))
		file = &w.ses
	}
	w.sv[0], w.sv[1] = 0x3C, 0xC3
	w.key = file.Sum(w.sv[:])
	return sdmMACAES(w, input)
}
