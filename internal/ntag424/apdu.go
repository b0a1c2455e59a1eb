package ntag424

import (
	"context"
	"fmt"
)

// Transmitter sends one command APDU to the tag in the field and returns the
// whole response APDU: data followed by the status word SW1 SW2. It is the
// one method this package needs from the PC/SC layer; *pcsc.Card satisfies
// it, and tests use a fake that replays transcripts.
type Transmitter interface {
	Transmit(ctx context.Context, apdu []byte) ([]byte, error)
}

// Command bytes, NT4H2421Gx §10.2 Table 22. Native commands travel wrapped in
// ISO/IEC 7816-4 as 90 INS 00 00 [Lc data] 00 and answer 91 <status>.
const (
	claISO    = 0x00
	claNative = 0x90
	claPCSC   = 0xFF // PC/SC Part 3 pseudo-APDUs, answered by the reader itself

	insSelectFile      = 0xA4 // ISOSelectFile, §10.9.1
	insReadBinary      = 0xB0 // ISOReadBinary, §10.9.2
	insGetVersion      = 0x60 // GetVersion, §10.5.2
	insAdditionalFrame = 0xAF // next frame of a multi-frame command, Table 22
	insReadSig         = 0x3C // Read_Sig, Table 22; AN12196 §8.2 Table 30
	insGetData         = 0xCA // PC/SC Part 3 §3.2.2.1.3 GET DATA (P1 00: UID)
)

// ISOSelectFile and ISOReadBinary parameters, §10.9.1 Table 84 and §10.9.2
// Table 87.
const (
	selectByFileID = 0x00 // P1: select MF, DF or EF by 2-byte file identifier
	selectByDFName = 0x04 // P1: select by DF name
	selectNoFCI    = 0x0C // P2: return no FCI

	// readBinarySFI is P1 bit 7 of ISOReadBinary: P1 bits 4-0 then hold a
	// short ISO FileID that is selected and read, and P2 an offset 0-255.
	// With bit 7 clear, P1-P2 is a 15-bit offset into the selected file.
	readBinarySFI = 0x80

	// ndefSFI is the short ISO FileID nfcd reads the NDEF file (E104h)
	// by: its file number, 02h (NT4H2421Gx §8.2.2 numbers the CC, NDEF and
	// proprietary files 01h-03h and §10.9.2 takes the SFI in P1 bits 4-0;
	// the ntag424 Rust crate and proxmark3 address it the same way). The
	// data sheet prints no SFI per file, so if a tag refuses it (6A82 or
	// 6A86), ReadNDEF selects E104h by identifier and reads plainly, 2
	// APDUs more. Not yet confirmed on a physical tag.
	ndefSFI    = 0x02
	ndefFileID = 0xE104

	// maxShortLe is what Le = 00 asks for: 256 bytes, the most a short
	// APDU returns ("the short length Le limits response data to 256
	// byte", Table 87).
	maxShortLe = 256
	// maxNDEFFile bounds NLEN + 2: READ BINARY offsets have 15 bits, so
	// no Type 4 Tag NDEF file read this way is longer than 32 KiB. The
	// NTAG 424 DNA's NDEF file is 256 bytes (§8.2.2).
	maxNDEFFile = 0x8000
	nlenSize    = 2
)

// ndefAppName is the ISO DF name D2760000850101 that selects the NTAG 424 DNA
// application (§10.9.1), which is also the NFC Forum Type 4 Tag NDEF
// application.
var ndefAppName = [...]byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}

// Fixed command APDUs. They are arrays so that every call hands the
// Transmitter its own copy.
var (
	// 00 A4 04 0C 07 D2760000850101 00: AN12196 Table 11.
	apduSelectNDEFApp = [...]byte{claISO, insSelectFile, selectByDFName, selectNoFCI, byte(len(ndefAppName)),
		ndefAppName[0], ndefAppName[1], ndefAppName[2], ndefAppName[3], ndefAppName[4], ndefAppName[5], ndefAppName[6], 0x00}
	// 00 A4 00 0C 02 E104 00: AN12196 Table 21 does the same for E105.
	apduSelectNDEFFile = [...]byte{claISO, insSelectFile, selectByFileID, selectNoFCI, 2, ndefFileID >> 8, ndefFileID & 0xFF, 0x00}
	apduGetVersion     = [...]byte{claNative, insGetVersion, 0x00, 0x00, 0x00}
	apduNextFrame      = [...]byte{claNative, insAdditionalFrame, 0x00, 0x00, 0x00}
	// 90 3C 00 00 01 00 00: Read_Sig of address 00, AN12196 Table 30.
	apduReadSig = [...]byte{claNative, insReadSig, 0x00, 0x00, 0x01, 0x00, 0x00}
	// FF CA 00 00 00: GET DATA, UID, PC/SC Part 3 §3.2.2.1.3.
	apduGetUID = [...]byte{claPCSC, insGetData, 0x00, 0x00, 0x00}
)

// shortResponseError is a response without a complete status word. An empty
// one also means the tag left the field.
type shortResponseError struct{ n int }

func (e *shortResponseError) Error() string {
	if e.n == 0 {
		return "ntag424: empty response: card removed"
	}
	return fmt.Sprintf("ntag424: %d-byte response has no status word", e.n)
}

func (e *shortResponseError) Is(target error) bool {
	return target == ErrShortResponse || (e.n == 0 && target == ErrCardRemoved)
}

// exchange transmits apdu and splits the response into data and status word.
// The data aliases the Transmitter's response.
func exchange(ctx context.Context, t Transmitter, apdu []byte) ([]byte, StatusWord, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	rsp, err := t.Transmit(ctx, apdu)
	if err != nil {
		return nil, 0, err
	}
	if len(rsp) < 2 {
		return nil, 0, &shortResponseError{n: len(rsp)}
	}
	n := len(rsp) - 2
	return rsp[:n:n], StatusWord(rsp[n])<<8 | StatusWord(rsp[n+1]), nil
}

// readBinary sends ISOReadBinary with p1, p2 and le (1 to 256) and returns
// the data and whether the tag reported the end of the file (6282). On 6CXX
// it repeats the command once with Le = XX, as ISO/IEC 7816-4 §5.1.3 asks.
// n counts the APDUs sent.
func readBinary(ctx context.Context, t Transmitter, p1, p2 byte, le int) (data []byte, eof bool, n int, err error) {
	for {
		apdu := [...]byte{claISO, insReadBinary, p1, p2, byte(le)} // byte(256) == 0: Le 00
		n++
		data, sw, err := exchange(ctx, t, apdu[:])
		if err != nil {
			return nil, false, n, err
		}
		switch {
		case sw == StatusOK || sw == StatusEndOfFile:
			if len(data) > le {
				return nil, false, n, fmt.Errorf("%w: READ BINARY returned %d bytes for Le %d", ErrBadResponse, len(data), le)
			}
			return data, sw == StatusEndOfFile, n, nil
		case sw.wrongLe() && sw.SW2() != 0 && n == 1:
			le = int(sw.SW2())
			continue
		}
		return nil, false, n, &StatusError{Cmd: "ReadBinary", SW: sw}
	}
}
