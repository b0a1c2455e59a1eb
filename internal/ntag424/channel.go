package ntag424

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// This file exchanges authenticated commands with the tag in the field:
// AuthenticateEV2First/NonFirst and AuthenticateLRPFirst/NonFirst over a
// Transmitter, then the configuration commands in the communication mode
// the data sheet gives each (NT4H2421Gx Table 22), wrapping the pure
// functions of ev2.go and sm_lrp.go.

// Native command codes of the configuration commands (Table 22).
const (
	insChangeFileSettings = 0x5F // §10.7.1, CommMode.Full
	insChangeKey          = 0xC4 // §10.6.1, CommMode.Full
	insGetCardUID         = 0x51 // §10.5.3, CommMode.Full
	insGetFileSettings    = 0xF5 // §10.7.2, CommMode.MAC
	insGetKeyVersion      = 0x64 // §10.6.2, CommMode.MAC
	insSetConfiguration   = 0x5C // §10.5.1, CommMode.Full
	insWriteData          = 0x8D // §10.8.2, the file's CommMode
)

// SetConfiguration options (Table 49).
const (
	ConfigPICC       = 0x00 // PICCConfig: Random ID
	ConfigSecureMsg  = 0x04 // SMConfig
	ConfigCapability = 0x05 // PDCap2: LRP mode
	ConfigFailedAuth = 0x0A // failed authentication counter
	ConfigHardware   = 0x0B // back modulation
)

// LRPCapabilityData is the Data of SetConfiguration option 05h that
// switches the tag to LRP secure messaging for good: 4 RFU bytes,
// PDCap2.1 = 02h (bit 1: enable LRP mode), 3 RFU bytes, PDCap2.5 and
// PDCap2.6 zero (Table 50). "This change is permanent, LRP mode cannot be
// disabled afterwards."
var LRPCapabilityData = [10]byte{0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0}

// maxWriteChunk is the most file data one WriteData frame carries in
// CommMode.Plain: Lc 255 minus the 7-byte header. The data sheet allows
// "up to 248 byte including secure messaging" (Table 81); each frame is
// written tearing-protected.
const maxWriteChunk = 248

// ErrNotAuthenticated reports a command on a Channel whose authentication
// the tag has dropped: an error status ended it (§9.1.9: "the
// authentication state is immediately lost"), or ChangeKey changed the key
// it was established with. Authenticate again.
var ErrNotAuthenticated = errors.New("ntag424: not authenticated")

// Channel is an authenticated secure-messaging session with the tag in the
// field, AES (EV2) or LRP. It carries session keys: never log it. A
// Channel is not safe for concurrent use.
type Channel struct {
	t     Transmitter
	rand  io.Reader
	keyNo byte
	ev2   *EV2Session
	lrp   *LRPSession
	dead  bool
}

// SelectApplication selects the NTAG 424 DNA application (the NDEF
// application, DF name D2760000850101) with ISOSelectFile, which must
// precede authentication with an application key (§10.9.1). Selecting it
// also ends any authentication.
func SelectApplication(ctx context.Context, t Transmitter) error {
	apdu := apduSelectNDEFApp
	_, sw, err := exchange(ctx, t, apdu[:])
	if err == nil && sw != StatusOK {
		err = &StatusError{Cmd: "ISOSelectFile", SW: sw}
	}
	if err != nil {
		return fmt.Errorf("select NDEF application: %w", err)
	}
	return nil
}

// Authenticate runs the first authentication with application key keyNo
// (0-4) holding key, in the application the caller selected, and returns
// the session. RndA comes from rand (crypto/rand in production).
//
// With CryptoAES it is AuthenticateEV2First without PCDcap2 (AN12196 Table
// 14). With CryptoLRP it is AuthenticateLRPFirst (PCDcap2.1 = 02h); a tag
// still in AES mode answers that with the AES challenge "allowing the PCD
// to fall back" (§9, Table 19), and Authenticate completes the AES
// authentication instead: Channel.Crypto says which one the tag runs. A
// tag in LRP mode refuses AES with PERMISSION_DENIED (919D, ErrPermission).
//
// A wrong key makes the tag answer 91AE to part 2: a *StatusError matching
// ErrAuth. ErrAuthFailed means the tag's own proof did not verify.
func Authenticate(ctx context.Context, t Transmitter, keyNo byte, key *Key, c Crypto, rand io.Reader) (*Channel, error) {
	ch := &Channel{t: t, rand: rand, keyNo: keyNo}
	first := EV2AuthFirstCommand(keyNo)
	name := "AuthenticateEV2First"
	if c == CryptoLRP {
		first, name = LRPAuthFirstCommand(keyNo), "AuthenticateLRPFirst"
	}
	part1, err := ch.part1(ctx, name, first)
	if err != nil {
		return nil, err
	}
	rndA, err := ch.rndA()
	if err != nil {
		return nil, err
	}
	switch {
	case len(part1) == 17 && part1[0] == lrpAuthMode:
		capdu, rndB, err := LRPAuthPart2(key, &rndA, part1)
		if err != nil {
			return nil, err
		}
		resp, err := ch.part2(ctx, name, capdu)
		if err != nil {
			return nil, err
		}
		if ch.lrp, err = LRPAuthFinish(key, &rndA, &rndB, resp); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	default:
		name = "AuthenticateEV2First"
		capdu, rndB, err := EV2AuthPart2(key, &rndA, part1)
		if err != nil {
			return nil, err
		}
		resp, err := ch.part2(ctx, name, capdu)
		if err != nil {
			return nil, err
		}
		if ch.ev2, err = EV2AuthFinish(key, &rndA, &rndB, resp); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return ch, nil
}

func (ch *Channel) rndA() ([16]byte, error) {
	var r [16]byte
	if _, err := io.ReadFull(ch.rand, r[:]); err != nil {
		return r, fmt.Errorf("ntag424: RndA: %w", err)
	}
	return r, nil
}

// part1 sends the first frame of an authentication and expects 91AF.
func (ch *Channel) part1(ctx context.Context, name string, capdu []byte) ([]byte, error) {
	data, sw, err := exchange(ctx, ch.t, capdu)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if sw != StatusAdditionalFrame {
		return nil, &StatusError{Cmd: name, SW: sw}
	}
	return bytes.Clone(data), nil
}

// part2 sends the second frame and expects 9100.
func (ch *Channel) part2(ctx context.Context, name string, capdu []byte) ([]byte, error) {
	data, sw, err := exchange(ctx, ch.t, capdu)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if sw != StatusNativeOK {
		return nil, &StatusError{Cmd: name, SW: sw}
	}
	return bytes.Clone(data), nil
}

// Crypto returns the secure messaging the tag runs in this session.
func (ch *Channel) Crypto() Crypto {
	if ch.lrp != nil {
		return CryptoLRP
	}
	return CryptoAES
}

// KeyNo returns the key the session was last authenticated with.
func (ch *Channel) KeyNo() byte { return ch.keyNo }

// TI returns the transaction identifier.
func (ch *Channel) TI() [4]byte {
	if ch.lrp != nil {
		return ch.lrp.TI
	}
	return ch.ev2.TI
}

// Authenticated reports whether the tag still holds the session: no error
// status and no change of the session's own key since it was established.
func (ch *Channel) Authenticated() bool { return !ch.dead }

// Reauthenticate runs AuthenticateEV2NonFirst or AuthenticateLRPNonFirst
// with key keyNo inside the session (§9.1.6, §9.2.6): TI and CmdCtr are
// kept, the session keys change (and EncCtr restarts at zero in LRP). On a
// wrong key the tag answers 91AE and the session is lost.
func (ch *Channel) Reauthenticate(ctx context.Context, keyNo byte, key *Key) error {
	if ch.dead {
		return ErrNotAuthenticated
	}
	ch.dead = true // until the exchange completes
	name := "AuthenticateEV2NonFirst"
	if ch.lrp != nil {
		name = "AuthenticateLRPNonFirst"
	}
	part1, err := ch.part1(ctx, name, EV2AuthNonFirstCommand(keyNo))
	if err != nil {
		return err
	}
	rndA, err := ch.rndA()
	if err != nil {
		return err
	}
	if ch.lrp != nil {
		capdu, rndB, err := LRPAuthPart2(key, &rndA, part1)
		if err != nil {
			return err
		}
		resp, err := ch.part2(ctx, name, capdu)
		if err != nil {
			return err
		}
		if err := ch.lrp.LRPAuthNonFirstFinish(key, &rndA, &rndB, resp); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	} else {
		capdu, rndB, err := EV2AuthPart2(key, &rndA, part1)
		if err != nil {
			return err
		}
		resp, err := ch.part2(ctx, name, capdu)
		if err != nil {
			return err
		}
		if err := ch.ev2.EV2AuthNonFirstFinish(key, &rndA, &rndB, resp); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	ch.keyNo, ch.dead = keyNo, false
	return nil
}

// command sends one native command in the session: header in the clear,
// data in cmdMode, and checks the response in rspMode. Any status other
// than 9100 is a *StatusError named name and ends the session, as it does
// on the tag.
func (ch *Channel) command(ctx context.Context, name string, ins byte, header, data []byte, cmdMode, rspMode CommMode) ([]byte, error) {
	if ch.dead {
		return nil, fmt.Errorf("%s: %w", name, ErrNotAuthenticated)
	}
	var capdu []byte
	var err error
	if ch.lrp != nil {
		capdu, err = ch.lrp.WrapCommand(ins, header, data, cmdMode)
	} else {
		capdu, err = ch.ev2.WrapCommand(ins, header, data, cmdMode)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ch.dead = true // until the response verifies
	resp, sw, err := exchange(ctx, ch.t, capdu)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if sw != StatusNativeOK {
		return nil, &StatusError{Cmd: name, SW: sw}
	}
	var plain []byte
	if ch.lrp != nil {
		plain, err = ch.lrp.UnwrapResponse(0x00, resp, rspMode)
	} else {
		plain, err = ch.ev2.UnwrapResponse(0x00, resp, rspMode)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ch.dead = false
	return bytes.Clone(plain), nil
}

// GetFileSettings returns the settings of file f (§10.7.2), in
// CommMode.MAC.
func (ch *Channel) GetFileSettings(ctx context.Context, f FileNo) (*FileSettings, error) {
	data, err := ch.command(ctx, "GetFileSettings", insGetFileSettings, []byte{byte(f)}, nil, CommMAC, CommMAC)
	if err != nil {
		return nil, err
	}
	fs, err := ParseFileSettings(data)
	if err != nil {
		return nil, fmt.Errorf("GetFileSettings: %w", err)
	}
	return fs, nil
}

// ChangeFileSettings sets the access rights, communication mode and SDM
// options of file f (§10.7.1), in CommMode.Full. Enabling SDM resets the
// file's SDMReadCtr to zero (§9.3.1).
func (ch *Channel) ChangeFileSettings(ctx context.Context, f FileNo, fs *FileSettings) error {
	data, err := fs.AppendChangeData(nil)
	if err != nil {
		return fmt.Errorf("ChangeFileSettings: %w", err)
	}
	_, err = ch.command(ctx, "ChangeFileSettings", insChangeFileSettings, []byte{byte(f)}, data, CommFull, CommMAC)
	return err
}

// WriteData writes data to file f at offset in mode, the file's
// communication mode (§10.8.2), in frames of at most 248 bytes, each of
// which the tag writes tearing-protected. (Only CommMode.Plain files are
// split; MAC and Full data must fit one frame.)
func (ch *Channel) WriteData(ctx context.Context, f FileNo, offset int, data []byte, mode CommMode) error {
	for len(data) > 0 {
		n := min(len(data), maxWriteChunk)
		hdr := []byte{byte(f), byte(offset), byte(offset >> 8), byte(offset >> 16), byte(n), byte(n >> 8), byte(n >> 16)}
		if _, err := ch.command(ctx, "WriteData", insWriteData, hdr, data[:n], mode, mode); err != nil {
			return err
		}
		data, offset = data[n:], offset+n
	}
	return nil
}

// ChangeKey replaces application key keyNo with newKey and version
// (§10.6.1), in CommMode.Full; the session must be authenticated with key
// 0. For key 0 the data is NewKey || KeyVer; the tag answers without a
// MAC and the session ends (AN12196 Table 27). For keys 1-4 it is (NewKey
// XOR OldKey) || KeyVer || CRC32(NewKey), so oldKey must be the key's
// current value: otherwise the tag finds the CRC wrong and answers
// INTEGRITY_ERROR (911E) without changing anything.
func (ch *Channel) ChangeKey(ctx context.Context, keyNo byte, newKey, oldKey *Key, version byte) error {
	const name = "ChangeKey"
	self := keyNo == ch.keyNo
	data := ChangeKeyData(newKey, oldKey, version, self)
	defer clear(data)
	if !self {
		_, err := ch.command(ctx, name, insChangeKey, []byte{keyNo}, data, CommFull, CommMAC)
		return err
	}
	if ch.dead {
		return fmt.Errorf("%s: %w", name, ErrNotAuthenticated)
	}
	var capdu []byte
	var err error
	if ch.lrp != nil {
		capdu, err = ch.lrp.WrapCommand(insChangeKey, []byte{keyNo}, data, CommFull)
	} else {
		capdu, err = ch.ev2.WrapCommand(insChangeKey, []byte{keyNo}, data, CommFull)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ch.dead = true // changing the session's own key ends the session
	resp, sw, err := exchange(ctx, ch.t, capdu)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", name, err)
	case sw != StatusNativeOK:
		return &StatusError{Cmd: name, SW: sw}
	case len(resp) != 0:
		return fmt.Errorf("%s: %w: %d bytes after changing the session key, want none", name, ErrBadResponse, len(resp))
	}
	return nil
}

// GetKeyVersion returns the version of application key keyNo (§10.6.2),
// in CommMode.MAC.
func (ch *Channel) GetKeyVersion(ctx context.Context, keyNo byte) (byte, error) {
	data, err := ch.command(ctx, "GetKeyVersion", insGetKeyVersion, []byte{keyNo}, nil, CommMAC, CommMAC)
	if err != nil {
		return 0, err
	}
	if len(data) != 1 {
		return 0, fmt.Errorf("GetKeyVersion: %w: %d bytes, want 1", ErrBadResponse, len(data))
	}
	return data[0], nil
}

// SetConfiguration sets configuration option (Table 49) to data, sent in
// CommMode.Full; the session must be authenticated with key 0. Option 05h
// with LRPCapabilityData switches the tag to LRP for good.
func (ch *Channel) SetConfiguration(ctx context.Context, option byte, data []byte) error {
	_, err := ch.command(ctx, "SetConfiguration", insSetConfiguration, []byte{option}, data, CommFull, CommMAC)
	return err
}

// GetCardUID returns the 7-byte UID of the authenticated tag (§10.5.3),
// the command MACed and the answer encrypted: unlike GET DATA or
// GetVersion it proves that the UID belongs to the tag that holds the key.
func (ch *Channel) GetCardUID(ctx context.Context) ([]byte, error) {
	data, err := ch.command(ctx, "GetCardUID", insGetCardUID, nil, nil, CommMAC, CommFull)
	if err != nil {
		return nil, err
	}
	if len(data) != UIDLen {
		return nil, fmt.Errorf("GetCardUID: %w: %d bytes, want %d", ErrBadResponse, len(data), UIDLen)
	}
	return data, nil
}

// plainCommand sends a native command without a session and expects 9100.
func plainCommand(ctx context.Context, t Transmitter, name string, ins byte, data []byte) ([]byte, error) {
	capdu := []byte{claNative, ins, 0x00, 0x00}
	if len(data) > 0 {
		capdu = append(capdu, byte(len(data)))
		capdu = append(capdu, data...)
	}
	capdu = append(capdu, 0x00)
	rsp, sw, err := exchange(ctx, t, capdu)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if sw != StatusNativeOK {
		return nil, &StatusError{Cmd: name, SW: sw}
	}
	return bytes.Clone(rsp), nil
}

// ReadFileSettings returns the settings of file f without authentication:
// GetFileSettings in the clear, which the tag answers to anyone in the
// selected application.
func ReadFileSettings(ctx context.Context, t Transmitter, f FileNo) (*FileSettings, error) {
	data, err := plainCommand(ctx, t, "GetFileSettings", insGetFileSettings, []byte{byte(f)})
	if err != nil {
		return nil, err
	}
	fs, err := ParseFileSettings(data)
	if err != nil {
		return nil, fmt.Errorf("GetFileSettings: %w", err)
	}
	return fs, nil
}

// ReadKeyVersion returns the version of application key keyNo without
// authentication (GetKeyVersion in the clear).
func ReadKeyVersion(ctx context.Context, t Transmitter, keyNo byte) (byte, error) {
	data, err := plainCommand(ctx, t, "GetKeyVersion", insGetKeyVersion, []byte{keyNo})
	if err != nil {
		return 0, err
	}
	if len(data) != 1 {
		return 0, fmt.Errorf("GetKeyVersion: %w: %d bytes, want 1", ErrBadResponse, len(data))
	}
	return data[0], nil
}
