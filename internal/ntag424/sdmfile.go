package ntag424

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/nfcd/nfcd/internal/aescmac"
	"github.com/nfcd/nfcd/internal/lrp"
	"github.com/nfcd/nfcd/internal/ndef"
)

// This file is Secure Dynamic Messaging seen from the tag: MirrorFile
// computes what an unauthenticated read of the NDEF file returns from the
// file's static content and its SDM settings (NT4H2421Gx §9.3), and
// PlanSDM goes the other way, from a URL template to the static content
// and the settings (the offsets) that make a tag mirror it. The virtual
// tag reads with MirrorFile; personalisation writes what PlanSDM returns.

// NDEFFileSize is the size of the NTAG 424 DNA's NDEF file (§8.2.2).
const NDEFFileSize = 256

// MirrorFile returns the NDEF file as an NTAG 424 DNA in crypto mode c puts
// it on the contactless interface when read without authentication: the
// static content with the UID, SDMReadCtr, PICCData, SDMENCFileData and
// SDMMAC placeholders replaced as s configures them (§9.3.3-§9.3.8), for
// the tag with keys (application keys 0-4), uid and counter ctr. rand feeds
// the random padding of PICCData and, in LRP mode, PICCRand (§9.3.4).
//
// s must pass Check for len(static) and c; MirrorFile returns an error
// wrapping ErrFileSettings otherwise, and any error of rand.
func MirrorFile(static []byte, s *SDMSettings, c Crypto, keys *[5]Key, uid [UIDLen]byte, ctr uint32, rand io.Reader) ([]byte, error) {
	if err := s.Check(uint32(len(static)), c); err != nil {
		return nil, err
	}
	dyn := bytes.Clone(static)
	ctr &= 0xFFFFFF
	switch {
	case s.MetaRead == AccessFree:
		if s.UID {
			putHex(dyn[s.UIDOffset:], uid[:])
		}
		if s.ReadCtr && s.ReadCtrOffset != NoCtrMirror {
			// ASCII mirroring shows the counter MSB first (§9.3.1).
			putHex(dyn[s.ReadCtrOffset:], []byte{byte(ctr >> 16), byte(ctr >> 8), byte(ctr)})
		}
	case s.MetaRead.IsKey():
		picc, err := encryptPICCData(s, c, &keys[s.MetaRead], uid, ctr, rand)
		if err != nil {
			return nil, err
		}
		putHex(dyn[s.PICCDataOffset:], picc)
	}
	if !s.FileRead.IsKey() {
		return dyn, nil
	}
	// §9.3.9: the session vectors hold the UID and counter when mirrored.
	withCtr := s.ReadCtr && (s.MetaRead != AccessFree || s.ReadCtrOffset != NoCtrMirror)
	var ctx []byte
	if s.UID {
		ctx = append(ctx, uid[:]...)
	}
	if withCtr {
		ctx = append(ctx, byte(ctr), byte(ctr>>8), byte(ctr>>16))
	}
	fileKey := keys[s.FileRead]
	ctrLE := []byte{byte(ctr), byte(ctr >> 8), byte(ctr >> 16)}
	var macT [8]byte
	switch c {
	case CryptoLRP:
		ses := lrpSDMSession(&fileKey, ctx)
		if s.ENCFileData {
			pt := dyn[s.ENCOffset : s.ENCOffset+s.ENCLength/2]
			ct := make([]byte, len(pt))
			// §9.3.6.2: LRICB under SesSDMFileReadENCKey (UK1), counter
			// SDMReadCtr (LSB first) || 000000h, no padding.
			if _, err := ses.EncryptLRICB(ct, pt, 1, append(ctrLE, 0, 0, 0), false); err != nil {
				return nil, err
			}
			putHex(dyn[s.ENCOffset:], ct)
		}
		macT = aescmac.Truncate(ses.CMAC(dyn[s.MACInputOffset:s.MACOffset]))
	default:
		file := aescmac.New((*[16]byte)(&fileKey))
		if s.ENCFileData {
			// §9.3.9.1: SV1 = C33C 0001 0080 || UID || SDMReadCtr.
			sv1 := sdmSV([]byte{0xC3, 0x3C, 0x00, 0x01, 0x00, 0x80}, uid[:], ctrLE)
			encKey := file.Sum(sv1)
			var blk aescmac.Block
			blk.Init(&encKey)
			// §9.3.6.1: IV = E(SesSDMFileReadENCKey, SDMReadCtr || 0^13).
			var iv [16]byte
			copy(iv[:], ctrLE)
			blk.Encrypt(&iv, &iv)
			ct := bytes.Clone(dyn[s.ENCOffset : s.ENCOffset+s.ENCLength/2])
			cbcEncrypt(&blk, &iv, ct)
			clear(encKey[:])
			putHex(dyn[s.ENCOffset:], ct)
		}
		// §9.3.9.1: SV2 = 3CC3 0001 0080 [|| UID] [|| SDMReadCtr] zero-padded.
		macKey := file.Sum(sdmSV([]byte{0x3C, 0xC3, 0x00, 0x01, 0x00, 0x80}, ctx))
		macT = aescmac.Truncate(aescmac.New(&macKey).Sum(dyn[s.MACInputOffset:s.MACOffset]))
		clear(macKey[:])
	}
	putHex(dyn[s.MACOffset:], macT[:])
	return dyn, nil
}

// sdmSV concatenates parts and zero-pads them to a multiple of 16 bytes.
func sdmSV(parts ...[]byte) []byte {
	var sv []byte
	for _, p := range parts {
		sv = append(sv, p...)
	}
	for len(sv)%16 != 0 {
		sv = append(sv, 0)
	}
	return sv
}

// lrpSDMSession returns the LRP SDM session cipher (§9.3.9.2):
// SesSDMFileReadMasterKey = MAC_LRP(SDMFileReadKey, SV) with SV = 0001 0080
// [|| UID] [|| SDMReadCtr] zero-padded so that the label 1EE1 ends a
// 16-byte block; UK0 MACs, UK1 encrypts.
func lrpSDMSession(fileKey *Key, ctx []byte) *lrp.Cipher {
	sv := append([]byte{0x00, 0x01, 0x00, 0x80}, ctx...)
	for (len(sv)+2)%16 != 0 {
		sv = append(sv, 0)
	}
	sv = append(sv, 0x1E, 0xE1)
	k := [16]byte(*fileKey)
	master := lrp.New(&k, 1).CMAC(sv)
	ses := lrp.New(&master, 2)
	clear(master[:])
	clear(k[:])
	return ses
}

// encryptPICCData returns encrypted PICCData (§9.3.4): PICCDataTag [|| UID]
// [|| SDMReadCtr] || random padding to 16 bytes, AES-encrypted with a zero
// IV, or in LRP mode PICCRand || LRICB(SDMMetaReadKey, counter PICCRand).
func encryptPICCData(s *SDMSettings, c Crypto, key *Key, uid [UIDLen]byte, ctr uint32, rand io.Reader) ([]byte, error) {
	var pt [16]byte
	if _, err := io.ReadFull(rand, pt[:]); err != nil {
		return nil, fmt.Errorf("PICCData padding: %w", err)
	}
	tag := byte(0)
	n := 1
	if s.UID {
		tag |= 0x80 | UIDLen
		n += copy(pt[n:], uid[:])
	}
	if s.ReadCtr {
		tag |= 0x40
		pt[n], pt[n+1], pt[n+2] = byte(ctr), byte(ctr>>8), byte(ctr>>16)
	}
	pt[0] = tag
	k := [16]byte(*key)
	defer clear(k[:])
	if c == CryptoLRP {
		out := make([]byte, 24)
		if _, err := io.ReadFull(rand, out[:8]); err != nil {
			return nil, fmt.Errorf("PICCRand: %w", err)
		}
		if _, err := lrp.New(&k, 1).EncryptLRICB(out[8:], pt[:], 0, out[:8], false); err != nil {
			return nil, err
		}
		return out, nil
	}
	var blk aescmac.Block
	blk.Init(&k)
	var ct [16]byte
	blk.Encrypt(&ct, &pt)
	return ct[:], nil
}

// putHex writes b as upper-case hex at the start of dst.
func putHex(dst, b []byte) {
	const digits = "0123456789ABCDEF"
	for i, c := range b {
		dst[2*i], dst[2*i+1] = digits[c>>4], digits[c&0x0F]
	}
}

// SDMKeyNos are the key slots a personalisation gives SDM: SDMMetaReadKey
// (enc modes), SDMFileReadKey and the key that may read the counter with
// GetFileCounters (AccessNever for nobody).
type SDMKeyNos struct {
	MetaRead, FileRead, CtrRet Access
}

// SDMPlan is what a tag must hold to mirror a URL template: the static
// NDEF file content and the SDM settings with every offset.
type SDMPlan struct {
	// Template is the template as given, e.g.
	// "https://brand.example/t?picc_data={picc_data}&cmac={cmac}".
	Template string
	// File is the static NDEF file: NLEN, one URI record whose URL is the
	// template with every placeholder filled ('0's; the first half of the
	// {enc} placeholder holds the SDMENCFileData plaintext).
	File []byte
	// SDM are the settings of the NDEF file.
	SDM SDMSettings
	// Crypto is the mode the offsets were computed for (PICCData is
	// longer in LRP mode).
	Crypto Crypto
}

// Placeholders of a URL template and the logical field each one fills.
const (
	phUID      = "uid"
	phCtr      = "ctr"
	phPICCData = "picc_data"
	phEnc      = "enc"
	phTT       = "tt"
	phCMAC     = "cmac"
)

// TemplateError reports a URL template that cannot be personalised: a
// placeholder that is unknown, missing for the profile's mode, not a whole
// parameter value, under the wrong parameter name, or a file that does not
// fit. It never carries key material.
type TemplateError struct {
	Msg string
}

func (e *TemplateError) Error() string { return "ntag424: URL template: " + e.Msg }

func tmplErr(format string, args ...any) error {
	return &TemplateError{Msg: fmt.Sprintf(format, args...)}
}

// PlanSDM computes the static NDEF file and the SDM settings that make a
// tag mirror template under layout l (the profile's mode, crypto, names
// and MAC input start), with the SDM keys in slots k. fileData is the
// SDMENCFileData plaintext of ModeEncFile, a positive multiple of 16
// bytes; the {enc} placeholder takes twice its length in characters.
//
// Placeholders are {uid}, {ctr}, {picc_data}, {enc} and {cmac}; each must be
// the whole value of a query parameter named as the layout names that
// field, and the mode decides which must appear: plain {uid} and {ctr}
// (not {ctr} when the layout mirrors no counter), enc {picc_data}, encfile
// {picc_data} and {enc}, and all {cmac}. TagTamper layouts are refused: the
// NT4H2421Gx has no TagTamper mirror. Every offset is counted in the NDEF
// file as written: NLEN, the record header, the URI prefix code.
func PlanSDM(template string, l Layout, k SDMKeyNos, fileData []byte) (*SDMPlan, error) {
	l, err := l.validate()
	if err != nil {
		return nil, err
	}
	if l.TTParam || l.TTInEnc {
		return nil, tmplErr("TagTamper layouts are not supported: an NTAG 424 DNA (NT4H2421Gx) mirrors no TagTamper status")
	}
	if !k.FileRead.IsKey() || (l.Mode != ModePlain && !k.MetaRead.IsKey()) {
		return nil, tmplErr("SDM key numbers must be 0-4")
	}
	if k.CtrRet != AccessNever && k.CtrRet != AccessFree && !k.CtrRet.IsKey() {
		return nil, tmplErr("SDMCtrRet must be a key number, free or never")
	}
	want := map[string]string{phCMAC: l.Names.CMAC}
	switch l.Mode {
	case ModePlain:
		want[phUID] = l.Names.UID
		if !l.NoCtr {
			want[phCtr] = l.Names.Ctr
		}
	case ModeEnc:
		want[phPICCData] = l.Names.PICCData
	case ModeEncFile:
		want[phPICCData] = l.Names.PICCData
		want[phEnc] = l.Names.Enc
		if len(fileData) == 0 || len(fileData)%16 != 0 || 2*len(fileData) > NDEFFileSize {
			return nil, tmplErr("SDMENCFileData must be a positive multiple of 16 bytes, got %d", len(fileData))
		}
	}
	lengths := map[string]int{
		phUID: uidMirrorLen, phCtr: ctrMirrorLen, phPICCData: int(PICCDataLength(l.Crypto)),
		phEnc: 2 * len(fileData), phCMAC: macMirrorLen,
	}

	// Fill the placeholders and remember where each value starts in the URL.
	var url strings.Builder
	at := map[string]int{}
	for rest := template; rest != ""; {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			url.WriteString(rest)
			break
		}
		if rest[i] == '}' {
			return nil, tmplErr("'}' without '{'")
		}
		url.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, tmplErr("'{' without '}'")
		}
		name := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		if name == phTT {
			return nil, tmplErr("{tt}: an NTAG 424 DNA (NT4H2421Gx) mirrors no TagTamper status")
		}
		param, ok := want[name]
		if !ok {
			if _, known := lengths[name]; known {
				return nil, tmplErr("{%s} is not mirrored in %v mode", name, l.Mode)
			}
			return nil, tmplErr("unknown placeholder {%s}; want {uid}, {ctr}, {picc_data}, {enc} or {cmac}", quoteName(name))
		}
		if _, dup := at[name]; dup {
			return nil, tmplErr("{%s} appears twice", name)
		}
		// The placeholder must be the whole value of parameter param.
		before := url.String()
		if !strings.HasSuffix(before, "?"+param+"=") && !strings.HasSuffix(before, "&"+param+"=") {
			return nil, tmplErr("{%s} must be the whole value of the query parameter %s", name, quoteName(param))
		}
		if rest != "" && rest[0] != '&' && rest[0] != '#' {
			return nil, tmplErr("{%s} must end its parameter value", name)
		}
		at[name] = url.Len()
		if name == phEnc {
			url.Write(fileData)
			url.WriteString(strings.Repeat("0", len(fileData)))
		} else {
			url.WriteString(strings.Repeat("0", lengths[name]))
		}
	}
	for name := range want {
		if _, ok := at[name]; !ok {
			return nil, tmplErr("{%s} is missing: %v mode mirrors it", name, l.Mode)
		}
	}
	filled := url.String()
	// A verifier must find each value where the tag mirrors it: parse the
	// filled URL the way Verify does.
	var q query
	if err := parseQuery(filled, &q); err != nil {
		return nil, tmplErr("%v", err)
	}
	for name, i := range at {
		j := q.lookup(filled, want[name])
		if j < 0 || q.val(j) != (span{i, i + lengths[name]}) {
			return nil, tmplErr("{%s} must be in the query string, before any '#'", name)
		}
	}

	rec := ndef.NewURIRecord(filled)
	file, err := ndef.EncodeFile(ndef.Message{rec})
	if err != nil {
		return nil, tmplErr("cannot encode the NDEF message: %v", err)
	}
	if len(file) > NDEFFileSize {
		return nil, tmplErr("the NDEF message takes %d bytes, the file holds %d", len(file), NDEFFileSize)
	}
	// The URI record is the last thing in the file and its payload ends
	// with the URL after the abbreviated prefix, so the URL's byte i (past
	// the prefix) is the file's byte base+i.
	base := len(file) - len(filled)
	off := func(name string) uint32 { return uint32(base + at[name]) }

	p := &SDMPlan{Template: template, File: file, Crypto: l.Crypto}
	s := &p.SDM
	s.UID = true
	s.FileRead = k.FileRead
	s.MACOffset = off(phCMAC)
	s.MACInputOffset = s.MACOffset
	switch l.Mode {
	case ModePlain:
		s.MetaRead = AccessFree
		s.UIDOffset = off(phUID)
		if !l.NoCtr {
			s.ReadCtr = true
			s.ReadCtrOffset = off(phCtr)
		}
	default:
		s.ReadCtr = true
		s.MetaRead = k.MetaRead
		s.PICCDataOffset = off(phPICCData)
		if l.Mode == ModeEncFile {
			s.ENCFileData = true
			s.ENCOffset = off(phEnc)
			s.ENCLength = uint32(lengths[phEnc])
		}
	}
	s.CtrRet = AccessNever
	if s.ReadCtr {
		s.CtrRet = k.CtrRet
	}
	if !l.emptyWindow() {
		start, ok := macInputStart(filled, l)
		if !ok {
			return nil, tmplErr("mac_input_start %s names no parameter of the template", quoteName(l.MACInputStart))
		}
		s.MACInputOffset = uint32(base + start)
	}
	if err := s.Check(NDEFFileSize, l.Crypto); err != nil {
		return nil, tmplErr("%v", err)
	}
	return p, nil
}

// macInputStart returns the position in url of the value of the parameter
// that starts the MAC input (by name, or by the logical name's alias).
func macInputStart(url string, l Layout) (int, bool) {
	var q query
	if parseQuery(url, &q) != nil {
		return 0, false
	}
	i := q.lookup(url, l.MACInputStart)
	if i < 0 {
		if alias, ok := l.Names.byLogical(l.MACInputStart); ok {
			i = q.lookup(url, alias)
		}
	}
	if i < 0 {
		return 0, false
	}
	return q.val(i).start, true
}

// URLOf returns the URL of the first URI record in an NDEF file (NLEN and
// message), as a reader would see it.
func URLOf(file []byte) (string, error) { return urlOf(file) }
