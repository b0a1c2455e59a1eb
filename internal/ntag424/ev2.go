package ntag424

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/nfcd/nfcd/internal/aescmac"
	"github.com/nfcd/nfcd/internal/lrp"
)

// This file holds the PCD side of the NTAG 424 DNA mutual authentication
// (AuthenticateEV2First, AuthenticateEV2NonFirst, AuthenticateLRPFirst) and
// of EV2 secure messaging (CommMode.MAC and CommMode.FULL), as pure
// functions over the bytes exchanged: NT4H2421Gx §9.1 and §10.4, with the
// worked examples of AN12196 §6 and AN12343. No function here talks to a
// card; the caller transmits the APDUs they build.

// Authentication command bytes, NT4H2421Gx §10.4 Table 25-29.
const (
	insAuthEV2First    = 0x71 // AuthenticateEV2First, §10.4.1
	insAuthEV2NonFirst = 0x77 // AuthenticateEV2NonFirst, §10.4.2
)

// lrpAuthMode is the first byte of an AuthenticateLRPFirst part 1 response
// (and PCDcap2.1 of its command): 01h selects LRP secure messaging.
const lrpAuthMode = 0x01

// maxLc is the largest data field of a short C-APDU.
const maxLc = 255

// Errors of authentication and secure messaging. Like ErrBadMAC they do not
// say which byte or step failed.
var (
	// ErrAuthFailed: the PICC's proof of the key did not verify (RndA'
	// of an EV2 authentication, PICCResponse of an LRP one). The tag
	// holds a different key, or the exchange was tampered with.
	ErrAuthFailed = errors.New("ntag424: authentication failed")
	// ErrResponseMAC: the MACt of a secure-messaging response, or the
	// padding of its decrypted data, did not verify.
	ErrResponseMAC = errors.New("ntag424: response MAC did not verify")
	// ErrCmdCtrExhausted: the 16-bit command counter of the session has
	// reached FFFFh; the session must be re-established.
	ErrCmdCtrExhausted = errors.New("ntag424: command counter exhausted")
)

// EV2AuthFirstCommand returns the C-APDU 90 71 00 00 02 KeyNo 00 00 that
// starts AuthenticateEV2First with key keyNo and no PCDcap2 (§10.4.1,
// AN12196 Table 14 step 6). The tag answers E(Kx, RndB) || 91AF.
func EV2AuthFirstCommand(keyNo byte) []byte {
	return []byte{claNative, insAuthEV2First, 0x00, 0x00, 0x02, keyNo, 0x00, 0x00}
}

// EV2AuthNonFirstCommand returns the C-APDU 90 77 00 00 01 KeyNo 00 that
// starts AuthenticateEV2NonFirst inside an existing session (§10.4.2,
// AN12196 Table 24).
func EV2AuthNonFirstCommand(keyNo byte) []byte {
	return []byte{claNative, insAuthEV2NonFirst, 0x00, 0x00, 0x01, keyNo, 0x00}
}

// LRPAuthFirstCommand returns the C-APDU 90 71 00 00 03 KeyNo 01 02 00 that
// starts AuthenticateLRPFirst: PCDcap2 = 01 02 asks for LRP secure
// messaging (AN12343 §"AuthenticateLRPFirst"). The tag answers
// 01 || RndB || 91AF, RndB in the clear.
func LRPAuthFirstCommand(keyNo byte) []byte {
	return []byte{claNative, insAuthEV2First, 0x00, 0x00, 0x03, keyNo, lrpAuthMode, 0x02, 0x00}
}

// EV2Session is an authenticated EV2 secure-messaging session (AES mode):
// the transaction identifier, both session keys and the command counter.
// It carries key material: never log it.
type EV2Session struct {
	TI      [4]byte // transaction identifier, chosen by the tag
	EncKey  Key     // SesAuthENCKey
	MACKey  Key     // SesAuthMACKey
	CmdCtr  uint16  // CmdCtr: commands completed in this session
	PDcap2  [6]byte // the tag's capabilities (AuthenticateEV2First only)
	PCDcap2 [6]byte // the capabilities the tag echoes for the PCD
}

// EV2AuthPart2 handles the tag's answer to AuthenticateEV2First or
// AuthenticateEV2NonFirst part 1. encRndB is its data field (16 bytes,
// without the 91AF status word). It decrypts RndB = D(Kx, encRndB) (AES-CBC,
// zero IV), rotates it left by one byte and returns the part 2 C-APDU
// 90 AF 00 00 20 E(Kx, RndA || RndB') 00 together with RndB, which
// EV2AuthFinish needs (§9.1.5, AN12196 Table 14 steps 9-13).
func EV2AuthPart2(key *Key, rndA *[16]byte, encRndB []byte) (capdu []byte, rndB [16]byte, err error) {
	if len(encRndB) != 16 {
		return nil, rndB, fmt.Errorf("AuthenticateEV2 part 1: %d-byte response, want 16: %w", len(encRndB), ErrBadResponse)
	}
	var b aescmac.DecBlock
	b.Init((*[16]byte)(key))
	b.Decrypt(&rndB, (*[16]byte)(encRndB))

	// RndB' = RndB rotated left by one byte.
	var msg [32]byte
	copy(msg[:16], rndA[:])
	copy(msg[16:31], rndB[1:])
	msg[31] = rndB[0]
	cbcEncrypt(&b.Block, &[16]byte{}, msg[:])

	capdu = make([]byte, 0, 5+32+1)
	capdu = append(capdu, claNative, insAdditionalFrame, 0x00, 0x00, 32)
	capdu = append(capdu, msg[:]...)
	capdu = append(capdu, 0x00)
	return capdu, rndB, nil
}

// EV2AuthFinish checks the tag's answer to AuthenticateEV2First part 2 and
// returns the new session. resp is the 32-byte data field (without 9100):
// E(Kx, TI || RndA' || PDcap2 || PCDcap2). RndA' must be RndA rotated left
// by one byte, compared in constant time; otherwise the result is
// ErrAuthFailed (§9.1.5, AN12196 Table 14 steps 14-21).
func EV2AuthFinish(key *Key, rndA, rndB *[16]byte, resp []byte) (*EV2Session, error) {
	if len(resp) != 32 {
		return nil, fmt.Errorf("AuthenticateEV2First part 2: %d-byte response, want 32: %w", len(resp), ErrBadResponse)
	}
	var b aescmac.DecBlock
	b.Init((*[16]byte)(key))
	var pt [32]byte
	copy(pt[:], resp)
	cbcDecrypt(&b, &[16]byte{}, pt[:])

	// pt = TI (4) || RndA' (16) || PDcap2 (6) || PCDcap2 (6).
	if !rndAPrimeOK(rndA, pt[4:20]) {
		clear(pt[:])
		return nil, ErrAuthFailed
	}
	s := new(EV2Session)
	copy(s.TI[:], pt[:4])
	copy(s.PDcap2[:], pt[20:26])
	copy(s.PCDcap2[:], pt[26:32])
	s.EncKey, s.MACKey = EV2SessionKeys(key, rndA, rndB)
	return s, nil
}

// EV2AuthNonFirstFinish checks the tag's answer to AuthenticateEV2NonFirst
// part 2, resp = E(Kx, RndA') (16 bytes, without 9100), and re-keys s: new
// session keys from RndA and RndB, TI and CmdCtr kept (§9.1.6: "Command
// Counter CmdCtr is not reset"; AN12196 Table 26 continues at CmdCtr 2
// after the NonFirst of Table 24). On error s is left unchanged.
func (s *EV2Session) EV2AuthNonFirstFinish(key *Key, rndA, rndB *[16]byte, resp []byte) error {
	if len(resp) != 16 {
		return fmt.Errorf("AuthenticateEV2NonFirst part 2: %d-byte response, want 16: %w", len(resp), ErrBadResponse)
	}
	var b aescmac.DecBlock
	b.Init((*[16]byte)(key))
	var pt [16]byte
	b.Decrypt(&pt, (*[16]byte)(resp))
	if !rndAPrimeOK(rndA, pt[:]) {
		return ErrAuthFailed
	}
	s.EncKey, s.MACKey = EV2SessionKeys(key, rndA, rndB)
	return nil
}

// rndAPrimeOK reports whether got equals RndA rotated left by one byte, in
// constant time.
func rndAPrimeOK(rndA *[16]byte, got []byte) bool {
	var want [16]byte
	copy(want[:15], rndA[1:])
	want[15] = rndA[0]
	return subtle.ConstantTimeCompare(want[:], got) == 1
}

// EV2SessionKeys derives SesAuthENCKey = CMAC(Kx, SV1) and SesAuthMACKey =
// CMAC(Kx, SV2) from the two random numbers (§9.1.7, AN12196 Table 14
// steps 22-25).
func EV2SessionKeys(key *Key, rndA, rndB *[16]byte) (encKey, macKey Key) {
	m := aescmac.New((*[16]byte)(key))
	sv := ev2SV(0xA5, 0x5A, rndA, rndB)
	encKey = m.Sum(sv[:])
	sv[0], sv[1] = 0x5A, 0xA5
	macKey = m.Sum(sv[:])
	clear(sv[:])
	return encKey, macKey
}

// ev2SV returns the 32-byte session vector (§9.1.7)
//
//	l0 l1 00 01 00 80 || RndA[15..14] || (RndA[13..8] XOR RndB[15..10]) || RndB[9..0] || RndA[7..0]
//
// SV1 has l0 l1 = A5 5A, SV2 5A A5. The data sheet numbers bytes from the
// least significant end: RndA[15..14] are the first two bytes of RndA.
func ev2SV(l0, l1 byte, rndA, rndB *[16]byte) [32]byte {
	var sv [32]byte
	sv[0], sv[1], sv[2], sv[3], sv[4], sv[5] = l0, l1, 0x00, 0x01, 0x00, 0x80
	lrpAESContext(sv[6:32], rndA, rndB)
	return sv
}

// lrpAESContext writes the 26 bytes both EV2 and LRP session vectors share:
// RndA[15..14] || (RndA[13..8] XOR RndB[15..10]) || RndB[9..0] || RndA[7..0].
func lrpAESContext(dst []byte, rndA, rndB *[16]byte) {
	copy(dst[0:2], rndA[0:2])
	subtle.XORBytes(dst[2:8], rndA[2:8], rndB[0:6])
	copy(dst[8:18], rndB[6:16])
	copy(dst[18:26], rndA[8:16])
}

// cbcEncrypt encrypts buf (a multiple of 16 bytes) in place with AES-CBC.
func cbcEncrypt(b *aescmac.Block, iv *[16]byte, buf []byte) {
	x := *iv
	for i := 0; i < len(buf); i += 16 {
		blk := (*[16]byte)(buf[i : i+16])
		subtle.XORBytes(x[:], x[:], blk[:])
		b.Encrypt(&x, &x)
		*blk = x
	}
}

// cbcDecrypt decrypts buf (a multiple of 16 bytes) in place with AES-CBC.
func cbcDecrypt(b *aescmac.DecBlock, iv *[16]byte, buf []byte) {
	prev := *iv
	for i := 0; i < len(buf); i += 16 {
		blk := (*[16]byte)(buf[i : i+16])
		ct := *blk
		b.Decrypt(blk, blk)
		subtle.XORBytes(blk[:], blk[:], prev[:])
		prev = ct
	}
}

// CommMode is how a command or response travels in a session (§9.1.9).
type CommMode uint8

const (
	// CommPlain sends data in the clear, without a MAC.
	CommPlain CommMode = iota
	// CommMAC sends data in the clear followed by a MACt.
	CommMAC
	// CommFull encrypts the data (AES-CBC, 80 00.. padding) and appends
	// a MACt over the ciphertext.
	CommFull
)

var commModeNames = [...]string{CommPlain: "plain", CommMAC: "mac", CommFull: "full"}

// MarshalText returns the String form, for JSON.
func (m CommMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m CommMode) String() string {
	if int(m) < len(commModeNames) {
		return commModeNames[m]
	}
	return "CommMode(" + fmt.Sprint(uint8(m)) + ")"
}

// ParseCommMode parses "plain", "mac" or "full".
func ParseCommMode(s string) (CommMode, error) {
	for i, n := range commModeNames {
		if n == s {
			return CommMode(i), nil
		}
	}
	return 0, formatErr("comm_mode", "want plain, mac or full")
}

// iv returns IVc = E(SesAuthENCKey, A5 5A || TI || CmdCtr || 0^8) for
// the command, or IVr = E(SesAuthENCKey, 5A A5 || TI || CmdCtr+1 || 0^8)
// for its response (§9.1.10, AN12196 Table 18 step 5); ctr is the counter
// to use, LSB first.
func (s *EV2Session) iv(b *aescmac.Block, l0, l1 byte, ctr uint16) [16]byte {
	var iv [16]byte
	iv[0], iv[1] = l0, l1
	copy(iv[2:6], s.TI[:])
	binary.LittleEndian.PutUint16(iv[6:8], ctr)
	b.Encrypt(&iv, &iv)
	return iv
}

// IVc returns the IV of the command data in CommMode.FULL for the current
// CmdCtr: E(SesAuthENCKey, A5 5A || TI || CmdCtr || 0^8) (§9.1.10).
func (s *EV2Session) IVc() [16]byte {
	var b aescmac.Block
	b.Init((*[16]byte)(&s.EncKey))
	return s.iv(&b, 0xA5, 0x5A, s.CmdCtr)
}

// IVr returns the IV of the response data in CommMode.FULL for the current
// command: E(SesAuthENCKey, 5A A5 || TI || CmdCtr+1 || 0^8) (§9.1.10).
func (s *EV2Session) IVr() [16]byte {
	var b aescmac.Block
	b.Init((*[16]byte)(&s.EncKey))
	return s.iv(&b, 0x5A, 0xA5, s.CmdCtr+1)
}

// EncryptCommandData returns data padded with 80 00.. (always, a whole
// block when len(data) is a multiple of 16) and AES-CBC encrypted under
// SesAuthENCKey with IVc (§9.1.10). Empty data stays empty: a FULL command
// without data carries only its MAC (AN12196 Table 29).
func (s *EV2Session) EncryptCommandData(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	out := make([]byte, (len(data)/16+1)*16)
	copy(out, data)
	out[len(data)] = 0x80
	var b aescmac.Block
	b.Init((*[16]byte)(&s.EncKey))
	iv := s.iv(&b, 0xA5, 0x5A, s.CmdCtr)
	cbcEncrypt(&b, &iv, out)
	return out
}

// CommandMAC returns the MACt of a command at the current CmdCtr (§9.1.9,
// AN12196 Table 8):
//
//	MACt(SesAuthMACKey, Cmd || CmdCtr (LSB first) || TI || CmdHeader || CmdData)
//
// data is the command data as sent: the ciphertext in CommMode.FULL.
func (s *EV2Session) CommandMAC(cmd byte, header, data []byte) [8]byte {
	return s.mac(cmd, s.CmdCtr, header, data)
}

func (s *EV2Session) mac(first byte, ctr uint16, a, b []byte) [8]byte {
	msg := make([]byte, 0, 7+len(a)+len(b))
	msg = append(msg, first, byte(ctr), byte(ctr>>8))
	msg = append(msg, s.TI[:]...)
	msg = append(msg, a...)
	msg = append(msg, b...)
	return aescmac.Truncate(aescmac.New((*[16]byte)(&s.MACKey)).Sum(msg))
}

// WrapCommand returns the C-APDU 90 Cmd 00 00 Lc CmdHeader CmdData' MACt 00
// of a native command sent in mode at the current CmdCtr: CmdData' is data
// in CommPlain and CommMAC and its encryption in CommFull, and CommPlain
// carries no MACt. It does not advance CmdCtr: UnwrapResponse does, once
// the response verifies. The data field must fit a short APDU (255 bytes).
func (s *EV2Session) WrapCommand(cmd byte, header, data []byte, mode CommMode) ([]byte, error) {
	if s.CmdCtr == 0xFFFF {
		return nil, ErrCmdCtrExhausted
	}
	body := data
	switch mode {
	case CommPlain, CommMAC:
	case CommFull:
		body = s.EncryptCommandData(data)
	default:
		return nil, fmt.Errorf("ntag424: unknown %v", mode)
	}
	return buildCommand(cmd, header, body, mode, s.CommandMAC)
}

// UnwrapResponse checks the response to the command last wrapped at the
// current CmdCtr and returns its plain data. rc is the return code (SW2,
// 00 for 9100) and resp the response data field. In CommMAC and CommFull
// resp ends in MACt(SesAuthMACKey, RC || CmdCtr+1 || TI || RespData),
// checked in constant time; in CommFull RespData is then decrypted with
// IVr and unpadded. Any mismatch is ErrResponseMAC. On success CmdCtr
// advances by one (§9.1.9-§9.1.10, AN12196 Tables 8 and 29).
func (s *EV2Session) UnwrapResponse(rc byte, resp []byte, mode CommMode) ([]byte, error) {
	if s.CmdCtr == 0xFFFF {
		return nil, ErrCmdCtrExhausted
	}
	next := s.CmdCtr + 1
	switch mode {
	case CommPlain:
		s.CmdCtr = next
		return resp, nil
	case CommMAC, CommFull:
	default:
		return nil, fmt.Errorf("ntag424: unknown %v", mode)
	}
	if len(resp) < 8 {
		return nil, fmt.Errorf("ntag424: %d-byte response has no MACt: %w", len(resp), ErrBadResponse)
	}
	data, got := resp[:len(resp)-8], resp[len(resp)-8:]
	want := s.mac(rc, next, data, nil)
	if subtle.ConstantTimeCompare(want[:], got) != 1 {
		return nil, ErrResponseMAC
	}
	if mode == CommMAC || len(data) == 0 {
		s.CmdCtr = next
		return data, nil
	}
	if len(data)%16 != 0 {
		return nil, ErrResponseMAC
	}
	var b aescmac.DecBlock
	b.Init((*[16]byte)(&s.EncKey))
	iv := s.iv(&b.Block, 0x5A, 0xA5, next)
	pt := make([]byte, len(data))
	copy(pt, data)
	cbcDecrypt(&b, &iv, pt)
	// The MAC has verified, so the early exit of the padding scan leaks
	// nothing an attacker controls.
	n := len(pt) - 1
	for n >= len(pt)-16 && pt[n] == 0x00 {
		n--
	}
	if n < len(pt)-16 || pt[n] != 0x80 {
		clear(pt)
		return nil, ErrResponseMAC
	}
	s.CmdCtr = next
	return pt[:n], nil
}

// CRC32 returns NXP's "CRC32" of b as the tag expects it in ChangeKey: the
// IEEE 802.3 CRC-32 without its final complement (JAMCRC), least
// significant byte first (§10.6.1, AN12196 Table 26 step 7).
func CRC32(b []byte) [4]byte {
	var out [4]byte
	binary.LittleEndian.PutUint32(out[:], ^crc32.ChecksumIEEE(b))
	return out
}

// ChangeKeyData returns the plain CmdData of ChangeKey (§10.6.1, AN12196
// Tables 26 and 27), which the caller sends in CommFull with header KeyNo.
// When the key changed is not the authenticated one (case 1) it is
// (NewKey XOR OldKey) || KeyVer || CRC32(NewKey), 21 bytes; when it is the
// authenticated key itself (case 2), NewKey || KeyVer, 17 bytes, and
// oldKey is ignored.
func ChangeKeyData(newKey, oldKey *Key, version byte, authenticatedKey bool) []byte {
	if authenticatedKey {
		out := make([]byte, 0, 17)
		out = append(out, newKey[:]...)
		return append(out, version)
	}
	out := make([]byte, 21)
	subtle.XORBytes(out[:16], newKey[:], oldKey[:])
	out[16] = version
	crc := CRC32(newKey[:])
	copy(out[17:], crc[:])
	return out
}

// LRPSession is the result of AuthenticateLRPFirst: the transaction
// identifier, the capabilities and SesAuthMasterKey, from which
// lrp.New(&key, 2) gives the MAC (UK0) and encryption (UK1) keys of LRP
// secure messaging. It carries key material: never log it.
type LRPSession struct {
	TI        [4]byte
	MasterKey Key    // SesAuthMasterKey
	CmdCtr    uint16 // starts at zero
	// EncCtr is the LRICB counter of CommMode.FULL. AuthenticateLRPFirst
	// spends 0 on its PICCData, so secure messaging starts at 1; after
	// AuthenticateLRPNonFirst it starts at 0 (§9.2.4).
	EncCtr  uint32
	PDcap2  [6]byte
	PCDcap2 [6]byte

	c    *lrp.Cipher // lrp.New(&MasterKey, 2), built on first use
	cKey Key         // the MasterKey c was built for
}

// LRPSessionMasterKey returns SesAuthMasterKey = CMAC_LRP(Kx, SV) with
//
//	SV = 00 01 00 80 || RndA[15..14] || (RndA[13..8] XOR RndB[15..10]) || RndB[9..0] || RndA[7..0] || 96 69
//
// (AN12343, LRP session key generation; NT4H2421Gx §9.2.7).
func LRPSessionMasterKey(key *Key, rndA, rndB *[16]byte) Key {
	var sv [32]byte
	sv[0], sv[1], sv[2], sv[3] = 0x00, 0x01, 0x00, 0x80
	lrpAESContext(sv[4:30], rndA, rndB)
	sv[30], sv[31] = 0x96, 0x69
	k := Key(lrp.New((*[16]byte)(key), 1).CMAC(sv[:]))
	clear(sv[:])
	return k
}

// LRPAuthPart2 handles the tag's answer to AuthenticateLRPFirst part 1,
// part1 = 01 || RndB (17 bytes, without 91AF), and returns the part 2
// C-APDU 90 AF 00 00 20 RndA || PCDResponse 00 with PCDResponse =
// CMAC_LRP(SesAuthMasterKey, RndA || RndB), and RndB (AN12343).
func LRPAuthPart2(key *Key, rndA *[16]byte, part1 []byte) (capdu []byte, rndB [16]byte, err error) {
	if len(part1) != 17 || part1[0] != lrpAuthMode {
		return nil, rndB, fmt.Errorf("AuthenticateLRPFirst part 1: want 01 || RndB: %w", ErrBadResponse)
	}
	copy(rndB[:], part1[1:])
	master := LRPSessionMasterKey(key, rndA, &rndB)
	var msg [32]byte
	copy(msg[:16], rndA[:])
	copy(msg[16:], rndB[:])
	pcdResp := lrp.New((*[16]byte)(&master), 1).CMAC(msg[:])
	clear(master[:])

	capdu = make([]byte, 0, 5+32+1)
	capdu = append(capdu, claNative, insAdditionalFrame, 0x00, 0x00, 32)
	capdu = append(capdu, rndA[:]...)
	capdu = append(capdu, pcdResp[:]...)
	return append(capdu, 0x00), rndB, nil
}

// LRPAuthFinish checks the tag's answer to AuthenticateLRPFirst part 2,
// resp = PICCData || PICCResponse (32 bytes, without 9100). PICCResponse
// must equal CMAC_LRP(SesAuthMasterKey, RndB || RndA || PICCData),
// compared in constant time, or the result is ErrAuthFailed; PICCData is
// then decrypted to TI || PDcap2 || PCDcap2 (AN12343).
func LRPAuthFinish(key *Key, rndA, rndB *[16]byte, resp []byte) (*LRPSession, error) {
	if len(resp) != 32 {
		return nil, fmt.Errorf("AuthenticateLRPFirst part 2: %d-byte response, want 32: %w", len(resp), ErrBadResponse)
	}
	master := LRPSessionMasterKey(key, rndA, rndB)
	c := lrp.New((*[16]byte)(&master), 2)
	var msg [48]byte
	copy(msg[:16], rndB[:])
	copy(msg[16:32], rndA[:])
	copy(msg[32:], resp[:16])
	want := c.CMAC(msg[:])
	if subtle.ConstantTimeCompare(want[:], resp[16:]) != 1 {
		clear(master[:])
		return nil, ErrAuthFailed
	}
	s := &LRPSession{MasterKey: master, c: c, cKey: master}
	if err := s.decryptPICCData(c, resp[:16]); err != nil {
		return nil, err
	}
	s.EncCtr = 1 // §9.2.4: 00000000h went to PICCData
	return s, nil
}

// decryptPICCData decrypts the 16-byte PICCData of AuthenticateLRPFirst,
// E_LRP(SesAuthENCKey, TI || PDcap2 || PCDcap2): LRICB under UK1 of the
// session master key with the 32-bit counter EncCtr = 0, no padding.
func (s *LRPSession) decryptPICCData(c *lrp.Cipher, piccData []byte) error {
	var pt [16]byte
	if _, err := c.DecryptLRICB(pt[:], piccData, 1, []byte{0, 0, 0, 0}, false); err != nil {
		return fmt.Errorf("decrypt PICCData: %w", err)
	}
	copy(s.TI[:], pt[:4])
	copy(s.PDcap2[:], pt[4:10])
	copy(s.PCDcap2[:], pt[10:16])
	return nil
}
