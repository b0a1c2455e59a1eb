//go:build cgo || windows

package pcsc

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fieldsText renders trace fields as "key=value …".
func fieldsText(fs []zap.Field) string {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	var parts []string
	for _, k := range []string{"cmd_len", "cmd", "data", "data_len", "sw", "rsp", "rsp_text", "rsp_len"} {
		if v, ok := enc.Fields[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}

// TestTraceRedaction walks a tap and a key change through the trace: the
// identifiers show, keys, MACs, PICCData and UIDs do not.
func TestTraceRedaction(t *testing.T) {
	// NDEF of AN12196's sample: picc_data and cmac.
	url := "sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086"
	ndef := append(unhex(t, "0057D1015355"), append([]byte{0x04}, url...)...)
	secrets := []string{"EF963FF7828658A599F3041510671E88", "94EED9EE65337086", "04518DFAA96180",
		"00112233445566778899AABBCCDDEEFF", "A1B2C3D4E5F60718"}
	var st traceState
	for _, tc := range []struct{ cmd, rsp, want string }{
		{"00A4040007D276000085010100", "9000", "cmd=00A40400 data=D2760000850101 sw=9000"},
		{"00A4020C02E10400", "9000", "cmd=00A4020C data=E104 sw=9000"},
		{"00B0000080", hex.EncodeToString(ndef) + "9000",
			"cmd=00B00000 sw=9000 rsp_text=.W..SU.sdm.example/tag?picc_data=[redacted]&cmac=[redacted] rsp_len=" + strconv.Itoa(len(ndef))},
		{"FFCA000000", "04518DFAA961809000", "cmd=FFCA0000 sw=9000 rsp_len=7"},
		{"9060000000", "0404020130001105" + "91AF", "cmd=90600000 sw=91AF rsp=0404020130001105"},
		{"90AF000000", "0404020104001105" + "91AF", "cmd=90AF0000 sw=91AF rsp=0404020104001105"},
		{"90AF000000", "04518DFAA96180CF39E30B3021" + "9100", "cmd=90AF0000 sw=9100 rsp_len=13"},
		// An authentication: its AF frames carry encrypted challenges.
		{"9071000002000000", "A1B2C3D4E5F60718A1B2C3D4E5F6071891AF", "cmd=90710000 data_len=2 sw=91AF rsp_len=16"},
		{"90AF000020A1B2C3D4E5F60718A1B2C3D4E5F60718A1B2C3D4E5F60718A1B2C3D4E5F6071800", "A1B2C3D4E5F607189100", "cmd=90AF0000 data_len=32 sw=9100 rsp_len=8"},
		// ChangeKey: new key under secure messaging, with a MAC.
		{"90C400001900" + "00112233445566778899AABBCCDDEEFF" + "A1B2C3D4E5F60718" + "00", "A1B2C3D4E5F607189100", "cmd=90C40000 data_len=25 sw=9100 rsp_len=8"},
		{"903C0000010000", "6A82", "cmd=903C0000 data=00 sw=6A82"},
		{"FF00400D0403000101", "9000", "cmd=FF00400D data=03000101 sw=9000"},
		{"00B0", "", "cmd_len=2"},
	} {
		cmd := unhex(t, tc.cmd)
		got := fieldsText(traceFields(&st, cmd, unhex(t, tc.rsp)))
		if got != tc.want {
			t.Errorf("%s → %s\n got %s\nwant %s", tc.cmd, tc.rsp, got, tc.want)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToUpper(got), s) {
				t.Errorf("trace of %s shows %s: %s", tc.cmd, s, got)
			}
		}
	}
}
