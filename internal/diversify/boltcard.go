package diversify

import (
	"encoding/binary"
	"fmt"

	"github.com/nfcd/nfcd/internal/aescmac"
)

// BoltCardKeys are the keys of one Bolt Card derived from its issuer key.
type BoltCardKeys struct {
	// CardKey is the per-card, per-version intermediate key.
	CardKey [16]byte
	// K0 is the application master key (ChangeKey).
	K0 [16]byte
	// K1 is the SDMMetaReadKey that encrypts PICCData (p=); it depends on
	// the issuer key only, so a verifier can decrypt before knowing the UID.
	K1 [16]byte
	// K2 is the SDMFileReadKey behind the SUN MAC (c=).
	K2 [16]byte
	// K3 and K4 are unused by Bolt Card but set to unpredictable values.
	K3, K4 [16]byte
	// ID identifies the card to the issuer without revealing its UID.
	ID [16]byte
}

// Bolt Card derivation labels (boltcard docs/DETERMINISTIC.md).
var (
	boltCardKeyTag = [4]byte{0x2D, 0x00, 0x3F, 0x75}
	boltK0Tag      = [4]byte{0x2D, 0x00, 0x3F, 0x76}
	boltK1Tag      = [4]byte{0x2D, 0x00, 0x3F, 0x77}
	boltK2Tag      = [4]byte{0x2D, 0x00, 0x3F, 0x78}
	boltK3Tag      = [4]byte{0x2D, 0x00, 0x3F, 0x79}
	boltK4Tag      = [4]byte{0x2D, 0x00, 0x3F, 0x7A}
	boltIDTag      = [4]byte{0x2D, 0x00, 0x3F, 0x7B}
)

// BoltCardUIDSize is the UID length Bolt Card derivation accepts: NTAG 424
// DNA UIDs are 7 bytes.
const BoltCardUIDSize = 7

// BoltCard derives a Bolt Card's keys from the issuer key, its 7-byte UID
// and the key version (boltcard docs/DETERMINISTIC.md), with PRF = AES-CMAC:
//
//	CardKey = PRF(IssuerKey, 2D003F75 || UID || version, 4 bytes LSB first)
//	K0 = PRF(CardKey, 2D003F76)    K1 = PRF(IssuerKey, 2D003F77)
//	K2 = PRF(CardKey, 2D003F78)    K3 = PRF(CardKey, 2D003F79)
//	K4 = PRF(CardKey, 2D003F7A)    ID = PRF(IssuerKey, 2D003F7B || UID)
func BoltCard(issuerKey *[16]byte, uid []byte, version uint32) (BoltCardKeys, error) {
	var k BoltCardKeys
	if len(uid) != BoltCardUIDSize {
		return k, fmt.Errorf("%w: UID is %d bytes, want %d", ErrInputLength, len(uid), BoltCardUIDSize)
	}
	issuer := aescmac.New(issuerKey)
	var msg [4 + BoltCardUIDSize + 4]byte
	copy(msg[:4], boltCardKeyTag[:])
	copy(msg[4:], uid)
	binary.LittleEndian.PutUint32(msg[4+BoltCardUIDSize:], version)
	k.CardKey = issuer.Sum(msg[:])

	card := aescmac.New(&k.CardKey)
	k.K0 = card.Sum(boltK0Tag[:])
	k.K1 = issuer.Sum(boltK1Tag[:])
	k.K2 = card.Sum(boltK2Tag[:])
	k.K3 = card.Sum(boltK3Tag[:])
	k.K4 = card.Sum(boltK4Tag[:])

	copy(msg[:4], boltIDTag[:])
	k.ID = issuer.Sum(msg[:4+BoltCardUIDSize])
	return k, nil
}
