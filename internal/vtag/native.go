package vtag

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"io"

	"github.com/nfcd/nfcd/internal/lrp"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// This file answers the native commands (CLA 90, NT4H2421Gx §8.4 and §10):
// GetVersion, Read_Sig, the four authentications, and the commands that
// run in a secure-messaging session, with the tag's half of §9.1 and §9.2.
//
// Not modelled: ReadData, GetFileCounters, Random ID and the other
// SetConfiguration options, the failed-authentication delay and limit,
// command chaining, and secure messaging on GetVersion and Read_Sig (which
// the card answers in the clear).

// session is the tag's side of an authenticated session.
type session struct {
	keyNo byte
	ev2   *ntag424.EV2Session
	lrp   *ntag424.LRPSession
}

func (s *session) open(cmd byte, header, body []byte, mode ntag424.CommMode) ([]byte, error) {
	if s.lrp != nil {
		return s.lrp.OpenCommand(cmd, header, body, mode)
	}
	return s.ev2.OpenCommand(cmd, header, body, mode)
}

func (s *session) seal(data []byte, mode ntag424.CommMode) []byte {
	if s.lrp != nil {
		return s.lrp.SealResponse(0x00, data, mode)
	}
	return s.ev2.SealResponse(0x00, data, mode)
}

// authState is an authentication between its part 1 and part 2.
type authState struct {
	first bool // AuthenticateEV2First / LRPFirst (else NonFirst)
	lrp   bool
	keyNo byte
	rndB  [16]byte
	pcd   [6]byte // PCDcap2 as sent, zero-padded (§9.1.5)
}

// native answers ISO-wrapped native commands (NT4H2421Gx §8.4): 90 INS 00
// 00 [Lc data] 00, answered with data and 91 status.
func (c *Card) native(cmd command) []byte {
	if cmd.ins == cmdAdditionalFrame {
		return c.additionalFrame(cmd)
	}
	c.pending = nil // §9.1.5: any other command aborts an authentication
	if c.abortChain() {
		return status(swNativeAborted)
	}
	switch cmd.ins {
	case cmdGetVersion, cmdReadSig, cmdAuthFirst, cmdAuthNonFirst, cmdGetCardUID, cmdGetFileSettings,
		cmdGetKeyVersion, cmdChangeFileSettings, cmdChangeKey, cmdWriteData, cmdSetConfiguration:
	default:
		return c.fail(swNativeIllegalCmd)
	}
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return c.fail(swWrongP1P2)
	}
	switch cmd.ins {
	case cmdGetVersion:
		if len(cmd.data) != 0 {
			return c.fail(swNativeLength)
		}
		c.chain = 1
		return respond(versionHW[:], swNativeMore)
	case cmdReadSig:
		if len(cmd.data) != 1 {
			return c.fail(swNativeLength)
		}
		if cmd.data[0] != 0x00 { // the only address
			return c.fail(swNativeParameter)
		}
		return respond(c.sig[:], swNativeOK)
	case cmdAuthFirst:
		return c.authFirst(cmd.data)
	case cmdAuthNonFirst:
		return c.authNonFirst(cmd.data)
	case cmdGetCardUID:
		return c.getCardUID(cmd.data)
	case cmdGetFileSettings:
		return c.getFileSettings(cmd.data)
	case cmdGetKeyVersion:
		return c.getKeyVersion(cmd.data)
	case cmdChangeFileSettings:
		return c.changeFileSettings(cmd.data)
	case cmdChangeKey:
		return c.changeKey(cmd.data)
	case cmdWriteData:
		return c.writeData(cmd.data)
	case cmdSetConfiguration:
		return c.setConfiguration(cmd.data)
	}
	return c.fail(swNativeIllegalCmd)
}

// fail ends any authentication and answers sw without a MAC: "any other
// error during the command execution has the same consequences" (§9.1.9).
func (c *Card) fail(sw uint16) []byte {
	c.auth, c.pending = nil, nil
	return status(sw)
}

// additionalFrame continues GetVersion or an authentication.
func (c *Card) additionalFrame(cmd command) []byte {
	if a := c.pending; a != nil {
		c.pending = nil
		if cmd.p1 != 0 || cmd.p2 != 0 || len(cmd.data) != 32 {
			return c.fail(swNativeLength)
		}
		return c.authPart2(a, cmd.data)
	}
	if c.chain == 0 {
		return c.fail(swNativeIllegalCmd)
	}
	if cmd.p1 != 0 || cmd.p2 != 0 || len(cmd.data) != 0 {
		c.chain = 0
		return c.fail(swNativeLength)
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

// random fills b from the card's randomness; it reports false when that
// fails.
func (c *Card) random(b []byte) bool {
	_, err := io.ReadFull(c.rand, b)
	return err == nil
}

// authFirst answers AuthenticateEV2First and AuthenticateLRPFirst part 1
// (§10.4.1, §10.4.3, negotiation in §9 Table 19): KeyNo || LenCap ||
// PCDcap2. A PCD asking for LRP from a tag in AES mode gets the AES
// challenge to fall back on; a PCD asking for AES from a tag in LRP mode
// gets PERMISSION_DENIED.
func (c *Card) authFirst(data []byte) []byte {
	c.auth = nil // a first authentication starts afresh, whatever happens
	if len(data) < 2 || int(data[1]) > 6 || len(data) != 2+int(data[1]) {
		return c.fail(swNativeLength)
	}
	keyNo := data[0]
	if keyNo > 4 {
		return c.fail(swNativeParameter)
	}
	if !c.app {
		return c.fail(swNativeNoSuchKey) // at PICC level only the OriginalityKey exists
	}
	a := &authState{first: true, keyNo: keyNo}
	copy(a.pcd[:], data[2:])
	wantLRP := data[1] > 0 && data[2]&0x02 != 0
	switch {
	case c.lrp && !wantLRP:
		return c.fail(swNativePermission)
	case c.lrp:
		a.lrp = true
	}
	return c.authPart1(a)
}

// authNonFirst answers AuthenticateEV2NonFirst and
// AuthenticateLRPNonFirst part 1 (§10.4.2, §10.4.4): KeyNo, inside a
// session, which decides the kind.
func (c *Card) authNonFirst(data []byte) []byte {
	if len(data) != 1 {
		return c.fail(swNativeLength)
	}
	if data[0] > 4 {
		return c.fail(swNativeParameter)
	}
	if c.auth == nil {
		return c.fail(swNativePermission)
	}
	return c.authPart1(&authState{keyNo: data[0], lrp: c.auth.lrp != nil})
}

// authPart1 sends the challenge: E(Kx, RndB) in AES mode, 01 || RndB in
// LRP mode.
func (c *Card) authPart1(a *authState) []byte {
	if !c.random(a.rndB[:]) {
		return c.fail(swNativeMemory)
	}
	c.pending = a
	if a.lrp {
		return respond(append([]byte{0x01}, a.rndB[:]...), swNativeMore)
	}
	ct := aesCBC(&c.keys[a.keyNo], a.rndB[:], true)
	return respond(ct, swNativeMore)
}

// aesCBC encrypts or decrypts b (a multiple of 16 bytes) with AES-CBC under
// key and a zero IV, as authentication does (§9.1.4).
func aesCBC(key *ntag424.Key, b []byte, encrypt bool) []byte {
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		panic("vtag: " + err.Error()) // unreachable: 16-byte key
	}
	out := make([]byte, len(b))
	var iv [16]byte
	if encrypt {
		cipher.NewCBCEncrypter(blk, iv[:]).CryptBlocks(out, b)
	} else {
		cipher.NewCBCDecrypter(blk, iv[:]).CryptBlocks(out, b)
	}
	return out
}

// rotl returns b rotated left by one byte (RndA', RndB').
func rotl(b []byte) []byte { return append(bytes.Clone(b[1:]), b[0]) }

// authPart2 checks the PCD's answer and establishes the session.
func (c *Card) authPart2(a *authState, data []byte) []byte {
	key := &c.keys[a.keyNo]
	var pd [6]byte
	if c.lrp {
		pd[0] = 0x02 // PDCap2.1 bit 1: LRP secure messaging
	}
	if a.lrp {
		var rndA [16]byte
		copy(rndA[:], data[:16])
		master := ntag424.LRPSessionMasterKey(key, &rndA, &a.rndB)
		lc := lrp.New((*[16]byte)(&master), 2)
		want := lc.CMAC(append(bytes.Clone(rndA[:]), a.rndB[:]...))
		if subtle.ConstantTimeCompare(want[:], data[16:]) != 1 {
			c.failedAuths++
			return c.fail(swNativeAuth)
		}
		if !a.first {
			c.auth.lrp.MasterKey, c.auth.lrp.EncCtr = master, 0
			c.auth.keyNo = a.keyNo
			resp := lc.CMAC(append(bytes.Clone(a.rndB[:]), rndA[:]...))
			return respond(resp[:], swNativeOK)
		}
		s := &ntag424.LRPSession{MasterKey: master, EncCtr: 1, PDcap2: pd, PCDcap2: a.pcd}
		if !c.random(s.TI[:]) {
			return c.fail(swNativeMemory)
		}
		pt := append(append(append([]byte(nil), s.TI[:]...), pd[:]...), a.pcd[:]...)
		piccData := make([]byte, 16)
		// §9.2.5: PICCData = E_LRP(SesAuthENCKey; TI || PDCap2 || PCDCap2)
		// with EncCtr 00000000h, no padding.
		if _, err := lc.EncryptLRICB(piccData, pt, 1, []byte{0, 0, 0, 0}, false); err != nil {
			return c.fail(swNativeMemory)
		}
		resp := lc.CMAC(append(append(bytes.Clone(a.rndB[:]), rndA[:]...), piccData...))
		c.auth = &session{keyNo: a.keyNo, lrp: s}
		return respond(append(piccData, resp[:]...), swNativeOK)
	}
	pt := aesCBC(key, data, false)
	if !bytes.Equal(pt[16:], rotl(a.rndB[:])) {
		c.failedAuths++
		return c.fail(swNativeAuth)
	}
	var rndA [16]byte
	copy(rndA[:], pt[:16])
	enc, mac := ntag424.EV2SessionKeys(key, &rndA, &a.rndB)
	if !a.first {
		c.auth.ev2.EncKey, c.auth.ev2.MACKey = enc, mac
		c.auth.keyNo = a.keyNo
		return respond(aesCBC(key, rotl(rndA[:]), true), swNativeOK)
	}
	s := &ntag424.EV2Session{EncKey: enc, MACKey: mac, PDcap2: pd, PCDcap2: a.pcd}
	if !c.random(s.TI[:]) {
		return c.fail(swNativeMemory)
	}
	// §10.4.1 Table 29: E(Kx, TI || RndA' || PDcap2 || PCDcap2).
	resp := append(append(append(append([]byte(nil), s.TI[:]...), rotl(rndA[:])...), pd[:]...), a.pcd[:]...)
	c.auth = &session{keyNo: a.keyNo, ev2: s}
	return respond(aesCBC(key, resp, true), swNativeOK)
}

// secure opens a command that runs in the session's secure messaging, or
// in the clear without a session: header is the command header's length.
// It returns the header and the plain data, or the status to fail with.
func (c *Card) secure(ins byte, data []byte, hdrLen int, mode ntag424.CommMode) ([]byte, []byte, uint16) {
	if len(data) < hdrLen {
		return nil, nil, swNativeLength
	}
	hdr, body := data[:hdrLen], data[hdrLen:]
	if c.auth == nil {
		return hdr, body, swNativeOK
	}
	plain, err := c.auth.open(ins, hdr, body, mode)
	if err != nil {
		return nil, nil, swNativeIntegrity
	}
	return hdr, plain, swNativeOK
}

// reply answers a command that succeeded: in the session's response mode,
// or in the clear without a session.
func (c *Card) reply(data []byte, mode ntag424.CommMode) []byte {
	if c.auth == nil {
		return respond(data, swNativeOK)
	}
	return respond(c.auth.seal(data, mode), swNativeOK)
}

// requireKey checks that the session holds key keyNo: AUTHENTICATION_ERROR
// otherwise.
func (c *Card) requireKey(keyNo byte) uint16 {
	if c.auth == nil || c.auth.keyNo != keyNo {
		return swNativeAuth
	}
	return swNativeOK
}

// appFile checks a FileNo byte and that the application is selected.
func (c *Card) appFile(b byte) (fileNo, uint16) {
	if !c.app {
		return fileNone, swNativePermission // PICC level selected
	}
	if b&0xE0 != 0 {
		return fileNone, swNativeParameter
	}
	f := fileNo(b)
	if f < fileCC || f > fileProp {
		return fileNone, swNativeNotFound
	}
	return f, swNativeOK
}

// getCardUID answers GetCardUID (§10.5.3): MACed command, encrypted UID.
func (c *Card) getCardUID(data []byte) []byte {
	if c.auth == nil {
		return c.fail(swNativeAuth)
	}
	_, body, sw := c.secure(cmdGetCardUID, data, 0, ntag424.CommMAC)
	if sw == swNativeOK && len(body) != 0 {
		sw = swNativeLength
	}
	if sw != swNativeOK {
		return c.fail(sw)
	}
	return c.reply(c.uid[:], ntag424.CommFull)
}

// getFileSettings answers GetFileSettings (§10.7.2), CommMode.MAC.
func (c *Card) getFileSettings(data []byte) []byte {
	hdr, body, sw := c.secure(cmdGetFileSettings, data, 1, ntag424.CommMAC)
	if sw == swNativeOK && len(body) != 0 {
		sw = swNativeLength
	}
	if sw != swNativeOK {
		return c.fail(sw)
	}
	f, sw := c.appFile(hdr[0])
	if sw != swNativeOK {
		return c.fail(sw)
	}
	b, err := c.fs[f].AppendBinary(nil)
	if err != nil {
		return c.fail(swNativeMemory)
	}
	return c.reply(b, ntag424.CommMAC)
}

// getKeyVersion answers GetKeyVersion (§10.6.2), CommMode.MAC.
func (c *Card) getKeyVersion(data []byte) []byte {
	hdr, body, sw := c.secure(cmdGetKeyVersion, data, 1, ntag424.CommMAC)
	if sw == swNativeOK && len(body) != 0 {
		sw = swNativeLength
	}
	if sw != swNativeOK {
		return c.fail(sw)
	}
	if !c.app {
		return c.fail(swNativePermission)
	}
	if hdr[0] > 4 {
		return c.fail(swNativeNoSuchKey)
	}
	return c.reply([]byte{c.keyVer[hdr[0]]}, ntag424.CommMAC)
}

// changeFileSettings answers ChangeFileSettings (§10.7.1, Table 71): in
// CommMode.Full, or in the clear when the file's Change right is free.
func (c *Card) changeFileSettings(data []byte) []byte {
	if len(data) < 1 {
		return c.fail(swNativeLength)
	}
	f, sw := c.appFile(data[0])
	if sw != swNativeOK {
		return c.fail(sw)
	}
	switch ch := c.fs[f].Access.Change; {
	case ch == ntag424.AccessNever:
		return c.fail(swNativePermission)
	case ch.IsKey():
		if sw := c.requireKey(byte(ch)); sw != swNativeOK {
			return c.fail(sw)
		}
	}
	mode := ntag424.CommFull
	if c.auth == nil {
		mode = ntag424.CommPlain
	}
	_, body, sw := c.secure(cmdChangeFileSettings, data, 1, mode)
	if sw != swNativeOK {
		return c.fail(sw)
	}
	fs, err := ntag424.ParseChangeData(body)
	if err != nil {
		return c.fail(swNativeParameter)
	}
	if fs.SDM != nil {
		if f != fileNDEF {
			return c.fail(swNativePermission) // SDM only for FileNo 02h
		}
		crypto := ntag424.CryptoAES
		if c.lrp {
			crypto = ntag424.CryptoLRP
		}
		if err := fs.SDM.Check(uint32(len(c.files[f])), crypto); err != nil {
			return c.fail(swNativeParameter)
		}
		if fs.SDM.ReadCtrLimit && fs.SDM.ReadCtrLimitValue <= c.ctr {
			return c.fail(swNativeParameter)
		}
		c.ctr = 0 // §9.3.1: enabling SDM resets SDMReadCtr
	}
	fs.Size = uint32(len(c.files[f]))
	c.fs[f] = *fs
	c.ndef = nil
	return c.reply(nil, ntag424.CommMAC)
}

// changeKey answers ChangeKey (§10.6.1): CommMode.Full, with key 0. Key 0
// takes NewKey || KeyVer and ends the session (the answer has no MAC);
// keys 1-4 take (NewKey XOR OldKey) || KeyVer || CRC32(NewKey), and a CRC
// that does not match is INTEGRITY_ERROR.
func (c *Card) changeKey(data []byte) []byte {
	if len(data) < 1 {
		return c.fail(swNativeLength)
	}
	if sw := c.requireKey(0); sw != swNativeOK {
		return c.fail(sw)
	}
	hdr, body, sw := c.secure(cmdChangeKey, data, 1, ntag424.CommFull)
	if sw != swNativeOK {
		return c.fail(sw)
	}
	n := hdr[0]
	if n > 4 {
		return c.fail(swNativeNoSuchKey)
	}
	if n == c.auth.keyNo {
		if len(body) != 17 {
			return c.fail(swNativeLength)
		}
		copy(c.keys[n][:], body[:16])
		c.keyVer[n] = body[16]
		c.auth = nil
		c.ndef = nil
		return status(swNativeOK)
	}
	if len(body) != 21 {
		return c.fail(swNativeLength)
	}
	var k ntag424.Key
	subtle.XORBytes(k[:], body[:16], c.keys[n][:])
	if crc := ntag424.CRC32(k[:]); !bytes.Equal(crc[:], body[17:21]) {
		return c.fail(swNativeIntegrity)
	}
	c.keys[n], c.keyVer[n] = k, body[16]
	c.ndef = nil
	return c.reply(nil, ntag424.CommMAC)
}

// writeData answers WriteData (§10.8.2): FileNo || Offset || Length ||
// Data, in the file's communication mode inside a session and in the
// clear outside one; Write or ReadWrite must be free or the session's key.
func (c *Card) writeData(data []byte) []byte {
	if len(data) < 7 {
		return c.fail(swNativeLength)
	}
	f, sw := c.appFile(data[0])
	if sw != swNativeOK {
		return c.fail(sw)
	}
	a := c.fs[f].Access
	switch {
	case freeAccess(a.Write, a.ReadWrite):
	case !a.Write.IsKey() && !a.ReadWrite.IsKey():
		return c.fail(swNativePermission)
	case c.auth == nil || (c.auth.keyNo != byte(a.Write) && c.auth.keyNo != byte(a.ReadWrite)):
		return c.fail(swNativeAuth)
	}
	mode := c.fs[f].CommMode
	if c.auth == nil {
		mode = ntag424.CommPlain
	}
	hdr, body, sw := c.secure(cmdWriteData, data, 7, mode)
	if sw != swNativeOK {
		return c.fail(sw)
	}
	off := int(hdr[1]) | int(hdr[2])<<8 | int(hdr[3])<<16
	n := int(hdr[4]) | int(hdr[5])<<8 | int(hdr[6])<<16
	if n == 0 || n != len(body) {
		return c.fail(swNativeLength)
	}
	if off+n > len(c.files[f]) {
		return c.fail(swNativeBoundary)
	}
	copy(c.files[f][off:], body)
	c.ndef = nil
	return c.reply(nil, mode)
}

// setConfiguration answers SetConfiguration (§10.5.1), CommMode.Full with
// key 0. Only option 05h is modelled: PDCap2.1 bit 1 switches the tag to
// LRP for good and disables SDM, whose PICCData no longer fits (§9.3.4).
func (c *Card) setConfiguration(data []byte) []byte {
	if len(data) < 1 {
		return c.fail(swNativeLength)
	}
	if sw := c.requireKey(0); sw != swNativeOK {
		return c.fail(sw)
	}
	hdr, body, sw := c.secure(cmdSetConfiguration, data, 1, ntag424.CommFull)
	if sw != swNativeOK {
		return c.fail(sw)
	}
	if hdr[0] != ntag424.ConfigCapability {
		return c.fail(swNativeParameter) // not modelled
	}
	if len(body) != 10 {
		return c.fail(swNativeLength)
	}
	if body[4]&0x02 != 0 && !c.lrp {
		c.lrp = true
		if sdm := c.fs[fileNDEF].SDM; sdm != nil {
			c.fs[fileNDEF].SDM = nil
		}
		c.ndef = nil
	}
	return c.reply(nil, ntag424.CommMAC)
}
