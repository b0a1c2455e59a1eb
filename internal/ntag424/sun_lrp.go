package ntag424

import (
	"crypto/subtle"

	"github.com/nfcd/nfcd/internal/aescmac"
	"github.com/nfcd/nfcd/internal/diversify"
	"github.com/nfcd/nfcd/internal/lrp"
)

// lrpKeys is the cached LRP state of a profile (AN12304). Each EvalLRP step
// needs a fresh AES key schedule, so an LRP tap costs far more than an AES
// one; caching the key-dependent plaintexts, updated keys and CMAC subkeys
// of the fixed keys saves what can be saved.
type lrpKeys struct {
	file *lrp.Cipher // SDMFileReadKey, UK0 with CMAC subkeys (nil when diversified)
	meta *lrp.Cipher // SDMMetaReadKey, UK0 (enc modes)
}

func (k *lrpKeys) init(file, meta *Key, diverse, enc bool) {
	if !diverse {
		k.file = lrp.New((*[16]byte)(file), 1)
		k.file.PrecomputeCMAC()
	}
	if enc {
		k.meta = lrp.New((*[16]byte)(meta), 1)
	}
}

// decryptPICC decrypts 24-byte LRP PICCData: an 8-byte PICCRand that is the
// LRICB counter, then one ciphertext block under UK0 of SDMMetaReadKey, no
// padding (NT4H2421Gx §9.3.4 in LRP mode).
//
// The LRP functions work on copies: their buffers reach AES through
// cipher.Block and escape, and the AES path's scratch must stay on the
// stack.
func (k *lrpKeys) decryptPICC(dst *[16]byte, picc []byte) error {
	if len(picc) != 24 {
		return formatErr("picc_data", "want 48 hex digits for LRP")
	}
	in := append([]byte(nil), picc...)
	out := make([]byte, 16)
	if _, err := k.meta.DecryptLRICB(out, in[8:], 0, in[:8], false); err != nil {
		return &PICCDataError{Msg: "LRICB decryption failed"}
	}
	copy(dst[:], out)
	return nil
}

// session returns the LRP session cipher: SesSDMFileReadMasterKey =
// CMAC_LRP(SDMFileReadKey, SV) with UK0 (SDMMAC) and UK1 (SDMENCFileData).
func (k *lrpKeys) session(sv [16]byte, fileKey *Key) *lrp.Cipher {
	file := k.file
	if fileKey != nil {
		fk := new([16]byte)
		*fk = *fileKey
		file = lrp.New(fk, 1)
	}
	key := new([16]byte)
	*key = file.CMAC(sv[:])
	ses := lrp.New(key, 2)
	clear(key[:])
	return ses
}

func (k *lrpKeys) sdmMAC(w *work, fileKey *Key, input string) [8]byte {
	return aescmac.Truncate(k.session(w.sv, fileKey).CMAC([]byte(input)))
}

// verify checks the LRP SDMMAC over window and decrypts SDMENCFileData.
func (k *lrpKeys) verify(w *work, fileKey *Key, window string, r *Result) bool {
	ses := k.session(w.sv, fileKey)
	t := aescmac.Truncate(ses.CMAC([]byte(window)))
	if subtle.ConstantTimeCompare(t[:], w.mac[:]) != 1 {
		return false
	}
	if w.enc != nil {
		return k.decryptFileWith(ses, w.enc, r) == nil
	}
	return true
}

func (k *lrpKeys) decryptFile(w *work, fileKey *Key, enc []byte, r *Result) error {
	return k.decryptFileWith(k.session(w.sv, fileKey), enc, r)
}

// decryptFileWith decrypts SDMENCFileData with LRICB under UK1 of the
// session key, counter SDMReadCtr (LSB first) || 000000, no padding.
func (k *lrpKeys) decryptFileWith(ses *lrp.Cipher, enc []byte, r *Result) error {
	ctr := [6]byte{byte(r.Ctr.Value), byte(r.Ctr.Value >> 8), byte(r.Ctr.Value >> 16)}
	// In place: enc is the heap buffer that becomes the Result's file data.
	n, err := ses.DecryptLRICB(enc, enc, 1, ctr[:], false)
	if err != nil {
		return &PICCDataError{Msg: "SDMENCFileData decryption failed"}
	}
	r.fileData = enc[:n]
	return nil
}

// diversifyKey derives a tag's SDMFileReadKey from the master key with NXP
// AN10922 (AES-128); m is UID || DivInput, at most 31 bytes, which
// NewProfile guarantees.
func diversifyKey(master *Key, m []byte) Key {
	k, err := diversify.AN10922((*[16]byte)(master), m)
	if err != nil {
		panic("ntag424: " + err.Error()) // unreachable: NewProfile bounds DivInput
	}
	return k
}
