package ntag424

import (
	"errors"
	"strconv"
)

// StatusWord is the two-byte trailer SW1 SW2 of a response APDU.
type StatusWord uint16

// Status words of the ISO/IEC 7816-4 commands (CLA 00), NT4H2421Gx §10.3
// Table 24, plus the ISO warnings a generic Type 4 tag may send.
const (
	StatusOK              StatusWord = 0x9000 // normal processing
	StatusDataCorrupted   StatusWord = 0x6281 // part of the returned data may be corrupted
	StatusEndOfFile       StatusWord = 0x6282 // end of file reached before Le bytes were read
	StatusMemoryFailure   StatusWord = 0x6581
	StatusWrongLength     StatusWord = 0x6700 // wrong length, no further indication
	StatusSecurity        StatusWord = 0x6982 // security status not satisfied
	StatusConditions      StatusWord = 0x6985 // conditions of use not satisfied, e.g. no file selected
	StatusWrongData       StatusWord = 0x6A80 // incorrect parameters in the command data field
	StatusFileNotFound    StatusWord = 0x6A82 // file or application not found
	StatusWrongP1P2       StatusWord = 0x6A86 // incorrect parameters P1-P2
	StatusLcInconsistent  StatusWord = 0x6A87 // Lc inconsistent with P1-P2
	StatusWrongLe         StatusWord = 0x6C00 // wrong Le; SW2, when not zero, is the number of bytes available
	StatusINSNotSupported StatusWord = 0x6D00
	StatusCLANotSupported StatusWord = 0x6E00
)

// Status words of the native commands wrapped in ISO/IEC 7816-4 (CLA 90),
// NT4H2421Gx §10.3 Table 23: SW1 is 91 and SW2 the native status code.
const (
	StatusNativeOK         StatusWord = 0x9100 // OPERATION_OK
	StatusIllegalCommand   StatusWord = 0x911C // ILLEGAL_COMMAND_CODE
	StatusIntegrity        StatusWord = 0x911E // INTEGRITY_ERROR: CRC or MAC does not match
	StatusNoSuchKey        StatusWord = 0x9140 // NO_SUCH_KEY
	StatusLengthError      StatusWord = 0x917E // LENGTH_ERROR
	StatusSignature        StatusWord = 0x9190 // Read_Sig answered in plain (AN12196 Table 30)
	StatusPermissionDenied StatusWord = 0x919D // PERMISSION_DENIED
	StatusParameterError   StatusWord = 0x919E // PARAMETER_ERROR
	StatusAuthDelay        StatusWord = 0x91AD // AUTHENTICATION_DELAY
	StatusAuthError        StatusWord = 0x91AE // AUTHENTICATION_ERROR
	StatusAdditionalFrame  StatusWord = 0x91AF // ADDITIONAL_FRAME: more data follows
	StatusBoundaryError    StatusWord = 0x91BE // BOUNDARY_ERROR
	StatusCommandAborted   StatusWord = 0x91CA // COMMAND_ABORTED
	StatusMemoryError      StatusWord = 0x91EE // MEMORY_ERROR
	StatusNativeNotFound   StatusWord = 0x91F0 // FILE_NOT_FOUND
)

var statusText = map[StatusWord]string{
	StatusOK:              "ok",
	StatusDataCorrupted:   "data may be corrupted",
	StatusEndOfFile:       "end of file",
	StatusMemoryFailure:   "memory failure",
	StatusWrongLength:     "wrong length",
	StatusSecurity:        "security status not satisfied",
	StatusConditions:      "conditions of use not satisfied",
	StatusWrongData:       "incorrect data field",
	StatusFileNotFound:    "file not found",
	StatusWrongP1P2:       "incorrect P1-P2",
	StatusLcInconsistent:  "Lc inconsistent with P1-P2",
	StatusWrongLe:         "wrong Le",
	StatusINSNotSupported: "instruction not supported",
	StatusCLANotSupported: "class not supported",

	StatusNativeOK:         "ok",
	StatusIllegalCommand:   "illegal command code",
	StatusIntegrity:        "integrity error",
	StatusNoSuchKey:        "no such key",
	StatusLengthError:      "length error",
	StatusSignature:        "ok, signature",
	StatusPermissionDenied: "permission denied",
	StatusParameterError:   "parameter error",
	StatusAuthDelay:        "authentication delay",
	StatusAuthError:        "authentication error",
	StatusAdditionalFrame:  "additional frame",
	StatusBoundaryError:    "boundary error",
	StatusCommandAborted:   "command aborted",
	StatusMemoryError:      "memory error",
	StatusNativeNotFound:   "file not found",
}

// SW1 returns the first status byte.
func (s StatusWord) SW1() byte { return byte(s >> 8) }

// SW2 returns the second status byte.
func (s StatusWord) SW2() byte { return byte(s) }

// wrongLe reports whether s is 6CXX: wrong Le, SW2 bytes available.
func (s StatusWord) wrongLe() bool { return s.SW1() == 0x6C }

// String returns the status word in hex with its meaning, e.g.
// "6A82 (file not found)"; an unknown word prints as hex alone.
func (s StatusWord) String() string {
	var b [4]byte
	const digits = "0123456789ABCDEF"
	for i := range b {
		b[i] = digits[s>>(12-4*i)&0xF]
	}
	h := string(b[:])
	if s.wrongLe() && s != StatusWrongLe {
		return h + " (wrong Le, " + strconv.Itoa(int(s.SW2())) + " bytes available)"
	}
	if t, ok := statusText[s]; ok {
		return h + " (" + t + ")"
	}
	return h
}

// Sentinel errors that a *StatusError unwraps to, for callers that branch
// on the kind of refusal rather than the exact status word.
var (
	// ErrFileNotFound: the application or file does not exist (6A82, 91F0).
	// On a tap this usually means a tag without an NDEF application.
	ErrFileNotFound = errors.New("ntag424: file not found")
	// ErrSecurity: security status not satisfied (6982), e.g. an NDEF file
	// that needs a key to read, or an exhausted SDMReadCtrLimit.
	ErrSecurity = errors.New("ntag424: security status not satisfied")
	// ErrLength: the tag rejected a length (6700, 6CXX, 917E).
	ErrLength = errors.New("ntag424: wrong length")
	// ErrParameter: the tag rejected P1-P2 or the data field (6A80, 6A86,
	// 6A87, 919E).
	ErrParameter = errors.New("ntag424: wrong parameter")
	// ErrAuth: the command needs an authentication the session lacks
	// (91AE, and 91AD while the tag delays authentication).
	ErrAuth = errors.New("ntag424: authentication required")
	// ErrPermission: the tag's configuration forbids the command (919D).
	ErrPermission = errors.New("ntag424: permission denied")
	// ErrNotSupported: the tag does not know the command or class (6D00,
	// 6E00, 911C): typically a tag that is not from the DESFire family.
	ErrNotSupported = errors.New("ntag424: command not supported")
	// ErrAborted: a multi-frame command was interrupted (91CA).
	ErrAborted = errors.New("ntag424: command aborted")
	// ErrIntegrity: a CRC or MAC did not match (911E).
	ErrIntegrity = errors.New("ntag424: integrity error")
	// ErrBoundary: a read or write beyond the end of a file (91BE, 6282).
	ErrBoundary = errors.New("ntag424: beyond end of file")
)

// Response errors that are not status words.
var (
	// ErrShortResponse: the response APDU is shorter than its 2-byte
	// status word. An empty response also matches ErrCardRemoved.
	ErrShortResponse = errors.New("ntag424: response shorter than a status word")
	// ErrCardRemoved: the tag left the field in the middle of an exchange.
	// pcscd reports a card pulled mid-APDU as a successful transmit with
	// an empty response (pcsc-lite with ifd-vpcd; see the card-removed
	// transcript in testdata/apdu), so an empty
	// response wraps ErrCardRemoved; a Transmitter may wrap it too. The
	// PC/SC layer reports its own removal errors, which callers check
	// beside this one.
	ErrCardRemoved = errors.New("ntag424: card removed")
	// ErrBadResponse: a response that breaks the command's format: more
	// data than Le asked for, a GetVersion frame of the wrong size, an
	// NLEN beyond the file, or a success status where more frames must
	// follow. Errors wrapping it say which.
	ErrBadResponse = errors.New("ntag424: malformed response")
	// ErrNotNTAG424: GetVersion says the tag is not an NTAG 424 DNA, so
	// NXP's NTAG 424 DNA originality key does not apply to it.
	ErrNotNTAG424 = errors.New("ntag424: not an NTAG 424 DNA")
)

// StatusError is a response whose status word reports a failure. Its
// Unwrap maps well-known status words to the sentinels above, so
// errors.Is(err, ErrFileNotFound) holds for a 6A82 from any command.
type StatusError struct {
	Cmd string     // the command, e.g. "ReadBinary"
	SW  StatusWord // the status word the tag sent
}

// Error prints e as "ntag424: ReadBinary: status 6A82 (file not found)".
func (e *StatusError) Error() string {
	return "ntag424: " + e.Cmd + ": status " + e.SW.String()
}

// Unwrap returns the sentinel for e.SW, or nil for a status word without one.
func (e *StatusError) Unwrap() error {
	switch e.SW {
	case StatusFileNotFound, StatusNativeNotFound:
		return ErrFileNotFound
	case StatusSecurity:
		return ErrSecurity
	case StatusWrongLength, StatusLengthError:
		return ErrLength
	case StatusWrongData, StatusWrongP1P2, StatusLcInconsistent, StatusParameterError:
		return ErrParameter
	case StatusAuthError, StatusAuthDelay:
		return ErrAuth
	case StatusPermissionDenied:
		return ErrPermission
	case StatusINSNotSupported, StatusCLANotSupported, StatusIllegalCommand:
		return ErrNotSupported
	case StatusCommandAborted:
		return ErrAborted
	case StatusIntegrity:
		return ErrIntegrity
	case StatusBoundaryError, StatusEndOfFile:
		return ErrBoundary
	}
	if e.SW.wrongLe() {
		return ErrLength
	}
	return nil
}
