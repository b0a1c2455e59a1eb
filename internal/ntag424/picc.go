package ntag424

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/nfcd/nfcd/internal/aescmac"
)

// This file is the tag's half of secure messaging, for the virtual tag:
// OpenCommand checks and decrypts what WrapCommand built, and SealResponse
// builds what UnwrapResponse checks. The tag validates a command at CmdCtr
// n, answers at n+1 and keeps n+1 (NT4H2421Gx §9.1.2).

// ErrCommandMAC reports a command whose MACt or padding did not verify;
// the tag answers INTEGRITY_ERROR (911E) and drops the authentication.
var ErrCommandMAC = errors.New("ntag424: command MAC did not verify")

// openMACt checks the MACt that ends body in CommMAC and CommFull (mac
// computes it over the data before it) and returns the data; encrypted
// says the data is CommFull ciphertext (whole blocks) still to decrypt.
// In CommPlain body is the data.
func openMACt(mode CommMode, body []byte, mac func(data []byte) [8]byte) (data []byte, encrypted bool, err error) {
	switch mode {
	case CommPlain:
		return body, false, nil
	case CommMAC, CommFull:
	default:
		return nil, false, fmt.Errorf("ntag424: unknown %v", mode)
	}
	if len(body) < 8 {
		return nil, false, ErrCommandMAC
	}
	data, got := body[:len(body)-8], body[len(body)-8:]
	want := mac(data)
	if subtle.ConstantTimeCompare(want[:], got) != 1 {
		return nil, false, ErrCommandMAC
	}
	if mode == CommMAC || len(data) == 0 {
		return data, false, nil
	}
	if len(data)%16 != 0 {
		return nil, false, ErrCommandMAC
	}
	return data, true, nil
}

// OpenCommand checks the MACt of a command received at the current CmdCtr
// and returns its plain data: body is CmdData' || MACt as sent (without
// the header). In CommFull the data is decrypted with IVc and unpadded.
// CmdCtr is not changed: SealResponse advances it.
func (s *EV2Session) OpenCommand(cmd byte, header, body []byte, mode CommMode) ([]byte, error) {
	data, encrypted, err := openMACt(mode, body, func(data []byte) [8]byte { return s.CommandMAC(cmd, header, data) })
	if !encrypted || err != nil {
		return data, err
	}
	var b aescmac.DecBlock
	b.Init((*[16]byte)(&s.EncKey))
	iv := s.iv(&b.Block, 0xA5, 0x5A, s.CmdCtr)
	pt := make([]byte, len(data))
	copy(pt, data)
	cbcDecrypt(&b, &iv, pt)
	n, ok := unpad80(pt)
	if !ok {
		return nil, ErrCommandMAC
	}
	return pt[:n], nil
}

// SealResponse advances CmdCtr and returns the response data the tag sends
// with return code rc: in CommFull data encrypted with IVr, then in
// CommMAC and CommFull the MACt over RC || CmdCtr || TI || RespData'.
func (s *EV2Session) SealResponse(rc byte, data []byte, mode CommMode) []byte {
	s.CmdCtr++
	if mode == CommPlain {
		return data
	}
	if mode == CommFull && len(data) > 0 {
		out := make([]byte, (len(data)/16+1)*16)
		copy(out, data)
		out[len(data)] = 0x80
		var b aescmac.Block
		b.Init((*[16]byte)(&s.EncKey))
		iv := s.iv(&b, 0x5A, 0xA5, s.CmdCtr)
		cbcEncrypt(&b, &iv, out)
		data = out
	}
	mac := s.mac(rc, s.CmdCtr, data, nil)
	return append(append([]byte(nil), data...), mac[:]...)
}

// OpenCommand is EV2Session.OpenCommand for an LRP session: MACt_LRP, and
// in CommFull LRICB decryption from EncCtr, which advances.
func (s *LRPSession) OpenCommand(cmd byte, header, body []byte, mode CommMode) ([]byte, error) {
	data, encrypted, err := openMACt(mode, body, func(data []byte) [8]byte { return s.CommandMAC(cmd, header, data) })
	if !encrypted || err != nil {
		return data, err
	}
	pt := make([]byte, len(data))
	n, err := s.cipher().DecryptLRICB(pt, data, 1, s.encCtr(), true)
	if err != nil {
		return nil, ErrCommandMAC
	}
	s.EncCtr += uint32(len(data) / 16)
	return pt[:n], nil
}

// SealResponse is EV2Session.SealResponse for an LRP session.
func (s *LRPSession) SealResponse(rc byte, data []byte, mode CommMode) []byte {
	s.CmdCtr++
	if mode == CommPlain {
		return data
	}
	if mode == CommFull && len(data) > 0 {
		data = s.EncryptCommandData(data)
	}
	mac := s.macT(rc, s.CmdCtr, data, nil)
	return append(append([]byte(nil), data...), mac[:]...)
}

// unpad80 returns the length of b before its 80 00..00 padding, which
// lies in the last 16 bytes.
func unpad80(b []byte) (int, bool) {
	n := len(b) - 1
	for n >= len(b)-16 && n >= 0 && b[n] == 0x00 {
		n--
	}
	if n < 0 || n < len(b)-16 || b[n] != 0x80 {
		return 0, false
	}
	return n, true
}
