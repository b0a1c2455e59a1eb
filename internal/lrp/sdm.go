package lrp

// SDMSessionKey returns the LRP SDM session master key
// SesSDMFileReadMasterKey = CMAC_LRP(SDMFileReadKey, SV) (NT4H2421Gx, SDM
// session key generation in LRP mode), where
//
//	SV = 00 01 00 80 || UID || SDMReadCtr (LSB first) || 00.. || 1E E1
//
// is zero-padded so that 1E E1 ends a 16-byte block. uid or ctrLE may be
// empty when the tag mirrors only the other. The session's SDMMAC is
// New(&master, 1).CMAC(input) and its SDMENCFileData is decrypted with
// LRICB under UK1 of New(&master, 2) with the counter ctrLE || 00 00 00.
func SDMSessionKey(fileReadKey *[16]byte, uid, ctrLE []byte) [BlockSize]byte {
	var buf [2 * BlockSize]byte
	n := 4 + len(uid) + len(ctrLE) + 2
	n = (n + BlockSize - 1) &^ (BlockSize - 1)
	sv := buf[:0]
	if n > len(buf) {
		sv = make([]byte, 0, n) // longer than any NTAG UID; kept for safety
	}
	sv = append(sv, 0x00, 0x01, 0x00, 0x80)
	sv = append(sv, uid...)
	sv = append(sv, ctrLE...)
	sv = sv[:n]
	clear(sv[4+len(uid)+len(ctrLE):])
	sv[n-2], sv[n-1] = 0x1E, 0xE1
	return New(fileReadKey, 1).CMAC(sv)
}
