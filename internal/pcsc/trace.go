//go:build cgo || windows

package pcsc

import (
	"encoding/hex"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The APDU trace (Options.TraceAPDU) is for support: it shows what was sent
// to a card and what came back, one line per exchange, without the bytes
// that are secret or that would let a tap be replayed. Every line has the
// command header (CLA INS P1 P2), the status word, the lengths and the
// time taken. Command data is shown only for commands whose data is an
// identifier (SELECT's AID or file ID, Read_Sig's address, a file number,
// a reader's LED or buzzer setting); response data only for SELECT's
// answer, the hardware and software versions of GetVersion (not its third
// frame, which holds the UID), and the NDEF
// file read with READ BINARY, shown as text with every run of 14 or more
// hex digits (encrypted PICCData, CMACs, mirrored UIDs) replaced by
// "[redacted]". Everything else — authentication, keys being changed,
// secure messaging with its MACs, the UID from GET DATA, the originality
// signature — appears as its length only.

// Instruction bytes the trace treats specially.
const (
	insSelect        = 0xA4
	insReadBinary    = 0xB0
	insGetData       = 0xCA // FF CA: the reader's UID command
	insGetVersion    = 0x60
	insAdditional    = 0xAF
	insReadSig       = 0x3C
	insGetFileSet    = 0xF5
	insReaderControl = 0x00 // FF 00 …: reader pseudo-APDUs (LED, buzzer)
)

// traceState is what a card's trace remembers between exchanges: GetVersion
// answers in three frames, the later two asked for with AF, which also
// continues an authentication.
type traceState struct {
	// getVersion is the GetVersion frame the next AF asks for (2 or 3),
	// 0 when no GetVersion is under way.
	getVersion int
}

// traceExchange logs one exchange.
func (c *Card) traceExchange(cmd, rsp []byte, err error, took time.Duration) {
	fields := traceFields(&c.traceState, cmd, rsp)
	fields = append(fields, zap.String("reader", c.reader), zap.Duration("took", took))
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	c.trace.Info("apdu", fields...)
}

// traceFields describes cmd and its response rsp (status word included).
func traceFields(st *traceState, cmd, rsp []byte) []zap.Field {
	if len(cmd) < 4 {
		return []zap.Field{zap.Int("cmd_len", len(cmd))}
	}
	cla, ins := cmd[0], cmd[1]
	data := commandData(cmd)
	// frame is the GetVersion frame this exchange answers: 1 and 2 are
	// the hardware and software versions, 3 the UID and production data.
	frame := 0
	switch {
	case cla == 0x90 && ins == insGetVersion:
		frame = 1
	case cla == 0x90 && ins == insAdditional:
		frame = st.getVersion
	}
	getVersionFrame := frame > 0
	showCmd := false
	switch {
	case cla&0xF0 == 0x00 && ins == insSelect:
		showCmd = true
	case cla == 0x90 && (ins == insReadSig || ins == insGetFileSet || ins == insGetVersion):
		showCmd = true
	case cla == 0xFF && (ins == insReaderControl || ins == insGetData):
		showCmd = true
	case getVersionFrame:
		showCmd = true // AF carries no data
	}
	fields := []zap.Field{zap.String("cmd", strings.ToUpper(hex.EncodeToString(cmd[:4])))}
	if len(data) > 0 {
		if showCmd {
			fields = append(fields, zap.String("data", strings.ToUpper(hex.EncodeToString(data))))
		} else {
			fields = append(fields, zap.Int("data_len", len(data)))
		}
	}
	if len(rsp) < 2 {
		st.getVersion = 0
		return append(fields, zap.Int("rsp_len", len(rsp)))
	}
	body, sw := rsp[:len(rsp)-2], rsp[len(rsp)-2:]
	fields = append(fields, zap.String("sw", strings.ToUpper(hex.EncodeToString(sw))))
	if len(body) > 0 {
		switch {
		case cla&0xF0 == 0x00 && ins == insSelect, frame == 1, frame == 2:
			fields = append(fields, zap.String("rsp", strings.ToUpper(hex.EncodeToString(body))))
		case cla&0xF0 == 0x00 && ins == insReadBinary:
			fields = append(fields, zap.String("rsp_text", maskedText(body)), zap.Int("rsp_len", len(body)))
		default:
			fields = append(fields, zap.Int("rsp_len", len(body)))
		}
	}
	// A GetVersion frame answered 91AF has another frame to come.
	st.getVersion = 0
	if getVersionFrame && frame < 3 && sw[0] == 0x91 && sw[1] == 0xAF {
		st.getVersion = frame + 1
	}
	return fields
}

// commandData returns the data field of a short command APDU (the bytes
// after Lc), or nil.
func commandData(cmd []byte) []byte {
	if len(cmd) <= 5 {
		return nil
	}
	lc := int(cmd[4])
	if lc == 0 || 5+lc > len(cmd) {
		return cmd[5:] // extended or malformed: all of it counts as data
	}
	return cmd[5 : 5+lc]
}

// minMaskedHex is the shortest run of hex digits that maskedText hides:
// a mirrored UID (14), a CMAC (16), PICCData and file data (32 and more).
const minMaskedHex = 14

// maskedText renders b as printable ASCII ('.' for other bytes) with every
// run of at least minMaskedHex hex digits replaced by "[redacted]".
func maskedText(b []byte) string {
	var out strings.Builder
	run := 0
	flush := func(end int) {
		if run >= minMaskedHex {
			out.WriteString("[redacted]")
		} else {
			for _, ch := range b[end-run : end] {
				out.WriteByte(ch)
			}
		}
		run = 0
	}
	for i, ch := range b {
		if isHexDigit(ch) {
			run++
			continue
		}
		flush(i)
		if ch >= 0x20 && ch < 0x7F {
			out.WriteByte(ch)
		} else {
			out.WriteByte('.')
		}
	}
	flush(len(b))
	return out.String()
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
