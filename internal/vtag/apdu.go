package vtag

// Instruction classes and codes the card answers.
const (
	claISO    = 0x00 // ISO/IEC 7816-4 inter-industry commands
	claNative = 0x90 // ISO-wrapped native NTAG 424 DNA commands (NT4H2421Gx §8.4)
	claPCSC   = 0xFF // PC/SC Part 3 pseudo-APDUs, normally answered by the reader

	insSelect       = 0xA4 // ISOSelectFile, NT4H2421Gx §10.9.1
	insReadBinary   = 0xB0 // ISOReadBinary, NT4H2421Gx §10.9.2
	insUpdateBinary = 0xD6 // ISOUpdateBinary, NT4H2421Gx Table 22
	insGetData      = 0xCA // PC/SC Part 3 §3.2.2.1.3 GET DATA

	cmdGetVersion      = 0x60 // NT4H2421Gx §10.5.2
	cmdAdditionalFrame = 0xAF
	cmdReadSig         = 0x3C // Read_Sig, AN12196 §8.2
	cmdGetCardUID      = 0x51 // NT4H2421Gx §10.5.3

	cmdAuthFirst          = 0x71 // AuthenticateEV2First / LRPFirst, §10.4.1, §10.4.3
	cmdAuthNonFirst       = 0x77 // AuthenticateEV2NonFirst / LRPNonFirst, §10.4.2, §10.4.4
	cmdGetFileSettings    = 0xF5 // §10.7.2
	cmdGetKeyVersion      = 0x64 // §10.6.2
	cmdChangeFileSettings = 0x5F // §10.7.1
	cmdChangeKey          = 0xC4 // §10.6.1
	cmdWriteData          = 0x8D // §10.8.2
	cmdSetConfiguration   = 0x5C // §10.5.1
)

// Status words (NT4H2421Gx §10.9 tables 86 and 89; ISO/IEC 7816-4 §5.6;
// PC/SC Part 3 table 3-4). Native commands answer 91 followed by the
// native status code (NT4H2421Gx §8.4, table 23).
const (
	swOK             = 0x9000
	swEndOfData      = 0x6282 // GET DATA: Le longer than the data
	swMemoryFailure  = 0x6581
	swWrongLength    = 0x6700
	swSecurity       = 0x6982 // no free read access; SDMReadCtr exhausted
	swConditions     = 0x6985 // no file selected; a chained command pending
	swFuncNotSupp    = 0x6A81
	swFileNotFound   = 0x6A82
	swWrongP1P2      = 0x6A86
	swLcInconsistent = 0x6A87
	swWrongParams    = 0x6B00
	swWrongLe        = 0x6C00 // | exact length
	swINSNotSupp     = 0x6D00
	swCLANotSupp     = 0x6E00

	swNativeOK         = 0x9100
	swNativeMore       = 0x91AF // ADDITIONAL_FRAME
	swNativeIllegalCmd = 0x911C // ILLEGAL_COMMAND_CODE
	swNativeLength     = 0x917E // LENGTH_ERROR
	swNativeParameter  = 0x919E // PARAMETER_ERROR
	swNativeAuth       = 0x91AE // AUTHENTICATION_ERROR
	swNativeAborted    = 0x91CA // COMMAND_ABORTED
	swNativeIntegrity  = 0x911E // INTEGRITY_ERROR: MAC, padding or CRC
	swNativeNoSuchKey  = 0x9140 // NO_SUCH_KEY
	swNativePermission = 0x919D // PERMISSION_DENIED
	swNativeBoundary   = 0x91BE // BOUNDARY_ERROR
	swNativeMemory     = 0x91EE // MEMORY_ERROR
	swNativeNotFound   = 0x91F0 // FILE_NOT_FOUND
)

// command is a parsed short-length command APDU (ISO/IEC 7816-3 §12.1).
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	// ne is the number of response bytes expected: Le, with 00 meaning
	// 256. hasLe says whether an Le field was present at all.
	ne    int
	hasLe bool
}

// parseCommand splits apdu into header, data and Le, accepting the four
// short cases. It reports false for anything else: fewer than four bytes,
// an Lc that disagrees with the length, or extended length (Lc = 00 or
// Le = 00 followed by more bytes), which NTAG 424 DNA does not support.
func parseCommand(apdu []byte) (command, bool) {
	if len(apdu) < 4 {
		return command{}, false
	}
	c := command{cla: apdu[0], ins: apdu[1], p1: apdu[2], p2: apdu[3]}
	body := apdu[4:]
	switch {
	case len(body) == 0: // case 1
		return c, true
	case len(body) == 1: // case 2
		c.ne, c.hasLe = int(body[0]), true
		if c.ne == 0 {
			c.ne = 256
		}
		return c, true
	}
	lc := int(body[0])
	if lc == 0 {
		return command{}, false // extended length
	}
	switch len(body) {
	case 1 + lc: // case 3
		c.data = body[1:]
		return c, true
	case 2 + lc: // case 4
		c.data = body[1 : 1+lc]
		c.ne, c.hasLe = int(body[1+lc]), true
		if c.ne == 0 {
			c.ne = 256
		}
		return c, true
	}
	return command{}, false
}

// respond returns data followed by the status word.
func respond(data []byte, sw uint16) []byte {
	out := make([]byte, len(data), len(data)+2)
	copy(out, data)
	return append(out, byte(sw>>8), byte(sw))
}

// status returns a response that is only a status word.
func status(sw uint16) []byte { return []byte{byte(sw >> 8), byte(sw)} }
