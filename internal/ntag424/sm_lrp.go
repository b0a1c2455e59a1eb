package ntag424

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/nfcd/nfcd/internal/aescmac"
	"github.com/nfcd/nfcd/internal/lrp"
)

// This file holds LRP secure messaging (NT4H2421Gx §9.2): the PCD side of
// AuthenticateLRPNonFirst and the MAC and FULL communication modes of an
// LRP session, as pure functions over the bytes exchanged, like their AES
// counterparts in ev2.go.
//
// An LRP session key is not one value but SesAuthMasterKey with its
// plaintexts and two updated keys (§9.2.7): UK0 is SesAuthMACKey and UK1
// SesAuthENCKey, so lrp.New(&SesAuthMasterKey, 2) holds both.

// lrpSMCounterSize is the size of EncCtr, the LRICB counter of LRP secure
// messaging: a 32-bit unsigned integer, MSB first in the key stream (§9.2.4).
const lrpSMCounterSize = 4

// cipher returns the session's LRP state, built once per master key.
func (s *LRPSession) cipher() *lrp.Cipher {
	if s.c == nil || s.cKey != s.MasterKey {
		k := [16]byte(s.MasterKey)
		s.c = lrp.New(&k, 2)
		s.cKey = s.MasterKey
		clear(k[:])
	}
	return s.c
}

// encCtr returns EncCtr MSB first, as the LRICB counter.
func (s *LRPSession) encCtr() []byte {
	var b [lrpSMCounterSize]byte
	binary.BigEndian.PutUint32(b[:], s.EncCtr)
	return b[:]
}

// LRPAuthNonFirstFinish checks the tag's answer to AuthenticateLRPNonFirst
// part 2, resp = PICCResponse = MAC_LRP(SesAuthMACKey; RndB || RndA) (16
// bytes, without 9100), and re-keys s: the new SesAuthMasterKey, EncCtr
// back to zero (the counter is not used during this authentication), TI
// and CmdCtr kept (§9.2.6, §9.2.4, Table 47). The part 2 command is the
// one LRPAuthPart2 builds. On error s is left unchanged.
func (s *LRPSession) LRPAuthNonFirstFinish(key *Key, rndA, rndB *[16]byte, resp []byte) error {
	if len(resp) != 16 {
		return fmt.Errorf("AuthenticateLRPNonFirst part 2: %d-byte response, want 16: %w", len(resp), ErrBadResponse)
	}
	master := LRPSessionMasterKey(key, rndA, rndB)
	c := lrp.New((*[16]byte)(&master), 2)
	var msg [32]byte
	copy(msg[:16], rndB[:])
	copy(msg[16:], rndA[:])
	want := c.CMAC(msg[:])
	if subtle.ConstantTimeCompare(want[:], resp) != 1 {
		clear(master[:])
		return ErrAuthFailed
	}
	s.MasterKey = master
	s.c, s.cKey = c, master
	s.EncCtr = 0
	return nil
}

// macT returns MACt_LRP(SesAuthMACKey, first || ctr (LSB first) || TI || a
// || b), the truncated CMAC_LRP of §9.2.3.
func (s *LRPSession) macT(first byte, ctr uint16, a, b []byte) [8]byte {
	msg := make([]byte, 0, 7+len(a)+len(b))
	msg = append(msg, first, byte(ctr), byte(ctr>>8))
	msg = append(msg, s.TI[:]...)
	msg = append(msg, a...)
	msg = append(msg, b...)
	return aescmac.Truncate(s.cipher().CMAC(msg))
}

// CommandMAC returns the MACt of a command at the current CmdCtr (§9.2.9):
// MACt_LRP(SesAuthMACKey, Cmd || CmdCtr || TI || CmdHeader || CmdData),
// CmdData as sent (the ciphertext in CommMode.FULL).
func (s *LRPSession) CommandMAC(cmd byte, header, data []byte) [8]byte {
	return s.macT(cmd, s.CmdCtr, header, data)
}

// EncryptCommandData returns data padded with 80 00.. (always) and
// encrypted with LRICB under SesAuthENCKey from the current EncCtr, which
// advances by one per 16-byte block, padding included (§9.2.4). Empty data
// stays empty and leaves EncCtr alone.
func (s *LRPSession) EncryptCommandData(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	out := make([]byte, (len(data)/16+1)*16)
	n, err := s.cipher().EncryptLRICB(out, data, 1, s.encCtr(), true)
	if err != nil {
		panic("ntag424: " + err.Error()) // unreachable: the counter size is fixed
	}
	s.EncCtr += uint32(n / 16)
	return out
}

// WrapCommand returns the C-APDU 90 Cmd 00 00 Lc CmdHeader CmdData' MACt 00
// of a native command sent in mode in this LRP session (§9.2.8-§9.2.10).
// In CommFull it encrypts data and so advances EncCtr; CmdCtr advances
// only when UnwrapResponse accepts the response.
func (s *LRPSession) WrapCommand(cmd byte, header, data []byte, mode CommMode) ([]byte, error) {
	if s.CmdCtr == 0xFFFF {
		return nil, ErrCmdCtrExhausted
	}
	body := data
	switch mode {
	case CommPlain, CommMAC:
	case CommFull:
		if n := len(header) + (len(data)/16+1)*16 + 8; len(data) > 0 && n > maxLc {
			return nil, fmt.Errorf("ntag424: %d-byte command data field exceeds %d: %w", n, maxLc, ErrLength)
		}
		body = s.EncryptCommandData(data)
	default:
		return nil, fmt.Errorf("ntag424: unknown %v", mode)
	}
	return buildCommand(cmd, header, body, mode, s.CommandMAC)
}

// UnwrapResponse checks the response to the command last wrapped and
// returns its plain data: in CommMAC and CommFull the MACt_LRP(SesAuthMACKey,
// RC || CmdCtr+1 || TI || RespData) is checked in constant time, and in
// CommFull RespData is then decrypted with LRICB from the current EncCtr
// and unpadded. Any mismatch is ErrResponseMAC. On success CmdCtr advances
// by one (§9.2.9-§9.2.10).
func (s *LRPSession) UnwrapResponse(rc byte, resp []byte, mode CommMode) ([]byte, error) {
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
	want := s.macT(rc, next, data, nil)
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
	pt := make([]byte, len(data))
	n, err := s.cipher().DecryptLRICB(pt, data, 1, s.encCtr(), true)
	if err != nil {
		return nil, ErrResponseMAC
	}
	s.EncCtr += uint32(len(data) / 16)
	s.CmdCtr = next
	return pt[:n], nil
}

// buildCommand assembles 90 Cmd 00 00 [Lc CmdHeader body [MACt]] 00 with the
// MACt from mac over the header and the body as sent.
func buildCommand(cmd byte, header, body []byte, mode CommMode, mac func(cmd byte, header, data []byte) [8]byte) ([]byte, error) {
	lc := len(header) + len(body)
	if mode != CommPlain {
		lc += 8
	}
	if lc > maxLc {
		return nil, fmt.Errorf("ntag424: %d-byte command data field exceeds %d: %w", lc, maxLc, ErrLength)
	}
	capdu := make([]byte, 0, 5+lc+1)
	capdu = append(capdu, claNative, cmd, 0x00, 0x00)
	if lc > 0 {
		capdu = append(capdu, byte(lc))
		capdu = append(capdu, header...)
		capdu = append(capdu, body...)
		if mode != CommPlain {
			mact := mac(cmd, header, body)
			capdu = append(capdu, mact[:]...)
		}
	}
	return append(capdu, 0x00), nil
}
