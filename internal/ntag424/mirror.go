package ntag424

import (
	"crypto/subtle"
	"io"
	"strings"

	"github.com/nfcd/nfcd/internal/aescmac"
)

// TagData is what a tag mirrors into its URL at read time.
type TagData struct {
	UID [UIDLen]byte
	Ctr uint32
	// NoCtr leaves the counter out (UID-only tags). In plain mode the
	// layout decides (Layout.NoCtr); in enc modes PICCDataTag says it.
	NoCtr bool
	// TT is the TagTamper status, mirrored when the layout has one.
	TT [2]byte
	// FileData is the SDMENCFileData plaintext (ModeEncFile), a positive
	// multiple of 16 bytes.
	FileData []byte
}

// MirrorURL returns the URL a tag personalised with p's layout and keys
// mirrors for d: base, then the SUN parameters in the order uid/picc_data,
// ctr, enc, tt, cmac. rand supplies the PICCData padding (AES) or the
// PICCRand (LRP). It is the encoder behind the virtual tag and the
// round-trip tests; a real tag computes the same bytes (NT4H2421Gx §9.3).
func (p *Profile) MirrorURL(base string, d TagData, rand io.Reader) (string, error) {
	l := &p.layout
	w := new(work)
	r := Result{UID: d.UID, Ctr: Counter{Value: d.Ctr & 0xFFFFFF, Valid: !d.NoCtr}}
	if l.Mode == ModePlain {
		r.Ctr.Valid = !l.NoCtr
	}
	var b strings.Builder
	b.WriteString(base)
	sep := byte('?')
	if strings.IndexByte(base, '?') >= 0 {
		sep = '&'
	}
	param := func(name, value string) {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value)
	}
	fileKey := p.fileKeyFor(w, &r)
	sessionVector(&w.sv, l.Crypto, &r)
	switch l.Mode {
	case ModePlain:
		param(l.Names.UID, Hex(r.UID[:]))
		if r.Ctr.Valid {
			param(l.Names.Ctr, Hex([]byte{byte(r.Ctr.Value >> 16), byte(r.Ctr.Value >> 8), byte(r.Ctr.Value)}))
		}
	default:
		picc, err := p.encryptPICC(&r, rand)
		if err != nil {
			return "", err
		}
		param(l.Names.PICCData, Hex(picc))
	}
	if l.Mode == ModeEncFile {
		if len(d.FileData) == 0 || len(d.FileData)%16 != 0 || len(d.FileData) > MaxFileData {
			return "", formatErr("enc", "file data must be a positive multiple of 16 bytes")
		}
		if d.NoCtr {
			return "", &PICCDataError{Msg: "SDMENCFileData needs the counter mirrored"}
		}
		pt := append([]byte(nil), d.FileData...)
		if l.TTInEnc {
			if l.TTInEncOffset+2 > len(pt) {
				return "", formatErr("tt_in_enc_offset", "beyond the file data")
			}
			copy(pt[l.TTInEncOffset:], d.TT[:])
		}
		ct, err := p.encryptFile(w, fileKey, &r, pt)
		if err != nil {
			return "", err
		}
		param(l.Names.Enc, Hex(ct))
	}
	if l.TTParam {
		param(l.Names.TT, string(d.TT[:]))
	}
	param(l.Names.CMAC, "")
	url := b.String()
	// The MAC input runs from the value of MACInputStart to the MAC value.
	start := len(url)
	if !l.emptyWindow() {
		var q query
		if err := parseQuery(url, &q); err != nil {
			return "", err
		}
		i := q.lookup(url, l.MACInputStart)
		if i < 0 {
			if alias, ok := l.Names.byLogical(l.MACInputStart); ok {
				i = q.lookup(url, alias)
			}
		}
		if i < 0 {
			return "", formatErr("mac_input_start", "names no mirrored parameter")
		}
		start = q.val(i).start
	}
	mac := p.sdmMAC(&r, url[start:])
	return url + Hex(mac[:]), nil
}

// encryptPICC builds and encrypts PICCData: PICCDataTag, UID, SDMReadCtr
// (LSB first), random padding; LRP prefixes an 8-byte random PICCRand.
func (p *Profile) encryptPICC(r *Result, rand io.Reader) ([]byte, error) {
	var pt [16]byte
	if _, err := io.ReadFull(rand, pt[:]); err != nil {
		return nil, err
	}
	pt[0] = 0x80 | UIDLen
	copy(pt[1:], r.UID[:])
	if r.Ctr.Valid {
		pt[0] |= 0x40
		pt[8], pt[9], pt[10] = byte(r.Ctr.Value), byte(r.Ctr.Value>>8), byte(r.Ctr.Value>>16)
	}
	if p.layout.Crypto == CryptoLRP {
		out := make([]byte, 24)
		if _, err := io.ReadFull(rand, out[:8]); err != nil {
			return nil, err
		}
		if _, err := p.lrp.meta.EncryptLRICB(out[8:], pt[:], 0, out[:8], false); err != nil {
			return nil, err
		}
		return out, nil
	}
	var ct [16]byte
	p.meta.Encrypt(&ct, &pt)
	return ct[:], nil
}

// encryptFile encrypts SDMENCFileData with the session encryption key.
func (p *Profile) encryptFile(w *work, fileKey *Key, r *Result, pt []byte) ([]byte, error) {
	ct := make([]byte, len(pt))
	if p.layout.Crypto == CryptoLRP {
		ctr := [6]byte{byte(r.Ctr.Value), byte(r.Ctr.Value >> 8), byte(r.Ctr.Value >> 16)}
		_, err := p.lrp.session(w.sv, fileKey).EncryptLRICB(ct, pt, 1, ctr[:], false)
		return ct, err
	}
	file := &p.file
	if fileKey != nil {
		w.ses.Init((*[16]byte)(fileKey))
		file = &w.ses
	}
	w.sv[0], w.sv[1] = 0xC3, 0x3C
	encKey := file.Sum(w.sv[:])
	var blk aescmac.Block
	blk.Init(&encKey)
	var iv [16]byte
	iv[0], iv[1], iv[2] = byte(r.Ctr.Value), byte(r.Ctr.Value>>8), byte(r.Ctr.Value>>16)
	blk.Encrypt(&iv, &iv)
	// AES-CBC encryption, the inverse of decryptFileAES.
	for i := 0; i+16 <= len(pt); i += 16 {
		var b [16]byte
		subtle.XORBytes(b[:], pt[i:i+16], iv[:])
		blk.Encrypt(&b, &b)
		copy(ct[i:], b[:])
		iv = b
	}
	return ct, nil
}

// AppendHex appends b in upper-case hex, the form tags mirror their SUN
// parameters in and nfcd shows UIDs in.
func AppendHex(dst, b []byte) []byte {
	const digits = "0123456789ABCDEF"
	for _, c := range b {
		dst = append(dst, digits[c>>4], digits[c&0x0F])
	}
	return dst
}

// Hex returns b in upper-case hex (see AppendHex).
func Hex(b []byte) string { return string(AppendHex(make([]byte, 0, 2*len(b)), b)) }
