package ntag424

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
)

// Originality signature (NT4H2421Gx Read_Sig, AN12196 §8.2): NXP
// signs each tag's 7-byte UID with ECDSA on secp224r1, without hashing, and
// the tag returns r || s, 28 bytes each.
const (
	// OriginalitySignatureSize is the length of a Read_Sig signature.
	OriginalitySignatureSize = 56
	originalityUIDSize       = 7
	originalityScalarSize    = 28
)

// nxpOriginalityKeyHex is NXP's NTAG 424 DNA originality public key,
// uncompressed, as printed in AN12196 §8.2.
const nxpOriginalityKeyHex = "048A9B380AF2EE1B98DC417FECC263F8449C7625CECE82D9B916C992DA209D68422B81EC20B65A66B5102A61596AF3379200599316A00A1410"

var (
	// ErrNotOriginal reports an originality signature that does not verify
	// under NXP's public key: the tag is not a genuine NTAG 424 DNA, or the
	// UID or signature was altered. As with ErrBadMAC, it does not say why.
	ErrNotOriginal = errors.New("ntag424: not_original")
	// ErrOriginalityLength reports a UID or signature of the wrong length
	// for an originality check. Errors wrapping it name which one.
	ErrOriginalityLength = errors.New("ntag424: bad_originality_length")
)

// nxpOriginalityKey parses the constant public key once.
var nxpOriginalityKey = sync.OnceValue(func() *ecdsa.PublicKey {
	b, err := hex.DecodeString(nxpOriginalityKeyHex)
	if err != nil {
		panic("ntag424: originality key: " + err.Error())
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P224(), b)
	if err != nil {
		panic("ntag424: originality key: " + err.Error())
	}
	return pub
})

// VerifyOriginality checks the originality signature sig that Read_Sig
// returned for the 7-byte uid against NXP's NTAG 424 DNA public key
// (AN12196 §8.2). It returns nil when the signature verifies,
// ErrNotOriginal when it does not, and an error wrapping
// ErrOriginalityLength when uid is not 7 bytes or sig not 56.
//
// The signature covers only the UID, so it proves NXP made a tag with this
// UID, not that the tag in the field is that tag: a clone can replay it.
func VerifyOriginality(uid, sig []byte) error {
	if len(uid) != originalityUIDSize {
		return fmt.Errorf("%w: UID is %d bytes, want %d", ErrOriginalityLength, len(uid), originalityUIDSize)
	}
	if len(sig) != OriginalitySignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrOriginalityLength, len(sig), OriginalitySignatureSize)
	}
	r := new(big.Int).SetBytes(sig[:originalityScalarSize])
	s := new(big.Int).SetBytes(sig[originalityScalarSize:])
	// AN12196 §8.2: the raw UID is the message digest e (no hash), which
	// crypto/ecdsa takes as is since it is shorter than the 224-bit order.
	if !ecdsa.Verify(nxpOriginalityKey(), uid, r, s) {
		return ErrNotOriginal
	}
	return nil
}
