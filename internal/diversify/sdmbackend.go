package diversify

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/nfcd/nfcd/internal/aescmac"
)

// ErrKeyNo reports a key number the scheme cannot derive.
var ErrKeyNo = errors.New("diversify: unsupported key number")

// Domain-separation labels of nfc-developer/sdm-backend libsdm/derive.py
// (the scheme in use since 2023-01-24).
var (
	sdmBackendPICCDataKey   = []byte("PICCDataKey")   // DIV_CONST1
	sdmBackendSlotMasterKey = []byte("SlotMasterKey") // DIV_CONST2
	sdmBackendDivBaseKey    = []byte("DivBaseKey")    // DIV_CONST3
)

// SDMBackendTagKey returns the UID-diversified key keyNo of a tag
// provisioned by nfc-developer/sdm-backend (libsdm/derive.py
// derive_tag_key):
//
//	CMAC(HMAC-SHA256(master, "SlotMasterKey" || keyNo)[:16],
//	     01h || HMAC-SHA256(HMAC-SHA256(master, "DivBaseKey"), UID)[:16])
//
// An all-zero master key yields the all-zero (factory) key, as there. uid
// must not be empty.
func SDMBackendTagKey(master *[16]byte, uid []byte, keyNo byte) ([16]byte, error) {
	var out [16]byte
	if len(uid) == 0 {
		return out, fmt.Errorf("%w: UID is empty", ErrInputLength)
	}
	if isZero(master) {
		return out, nil
	}
	slot := hmacSHA256(master[:], sdmBackendSlotMasterKey, []byte{keyNo})
	base := hmacSHA256(master[:], sdmBackendDivBaseKey)
	div := hmacSHA256(base[:], uid)
	var msg [17]byte
	msg[0] = 0x01
	copy(msg[1:], div[:16])
	return aescmac.New((*[16]byte)(slot[:16])).Sum(msg[:]), nil
}

// SDMBackendUndiversified returns the key of nfc-developer/sdm-backend
// that is the same on every tag (libsdm/derive.py derive_undiversified_key):
// HMAC-SHA256(master, "PICCDataKey")[:16]. Only key 1, SDMMetaReadKey, is
// defined; other numbers return ErrKeyNo. An all-zero master key yields the
// all-zero key.
func SDMBackendUndiversified(master *[16]byte, keyNo byte) ([16]byte, error) {
	var out [16]byte
	if keyNo != 1 {
		return out, fmt.Errorf("%w: %d (only key 1 is undiversified)", ErrKeyNo, keyNo)
	}
	if isZero(master) {
		return out, nil
	}
	h := hmacSHA256(master[:], sdmBackendPICCDataKey)
	return [16]byte(h[:16]), nil
}

func hmacSHA256(key []byte, msg ...[]byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	for _, p := range msg {
		m.Write(p)
	}
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// isZero reports whether k is all zeros, in constant time.
func isZero(k *[16]byte) bool {
	var acc byte
	for _, b := range k {
		acc |= b
	}
	return acc == 0
}
