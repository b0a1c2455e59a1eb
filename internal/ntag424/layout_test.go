package ntag424

import (
	"errors"
	"strings"
	"testing"
)

// TestBadModeValueNeverEchoed repeats issue 13 §6: a bad mode value (here
// a key pasted into the wrong line) was echoed back in the error.
func TestBadModeValueNeverEchoed(t *testing.T) {
	const secret = "00112233445566778899AABBCCDDEEFF"
	for _, s := range []LayoutSpec{{Mode: secret}, {Mode: "enc", Crypto: secret}} {
		_, err := s.Layout()
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("Layout(%+v) = %v, want a FormatError", s, err)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(strings.ToLower(err.Error()), strings.ToLower(secret)) {
			t.Errorf("Layout error echoes the value: %v", err)
		}
	}
}

// TestParameterNamesCollideOrContainSeparators repeats issue 13 §6: a
// profile could name two parameters alike, or give a name containing '&'
// or '=', and the verifier then read a value from the wrong place.
func TestParameterNamesCollideOrContainSeparators(t *testing.T) {
	ok := func(m string, n Names) LayoutSpec { return LayoutSpec{Mode: m, Names: n} }
	for _, tc := range []struct {
		name  string
		spec  LayoutSpec
		field string
	}{
		{"uid is cmac", ok("plain", Names{UID: "c", CMAC: "c"}), "names.uid"},
		{"ctr is default uid", ok("plain", Names{Ctr: "uid"}), "names.ctr"},
		{"picc is cmac", ok("enc", Names{PICCData: "cmac"}), "names.picc_data"},
		{"enc is picc", ok("encfile", Names{PICCData: "e", Enc: "e"}), "names.enc"},
		{"tt is ctr", LayoutSpec{Mode: "plain", TTParam: true, MACInputStart: "uid", Names: Names{TT: "ctr"}}, "names.tt"},
		{"ampersand", ok("enc", Names{PICCData: "p&cmac"}), "names.picc_data"},
		{"equals", ok("plain", Names{UID: "u=1"}), "names.uid"},
		{"hash", ok("plain", Names{CMAC: "c#"}), "names.cmac"},
		{"space", ok("plain", Names{Ctr: "c tr"}), "names.ctr"},
		{"too long", ok("plain", Names{UID: strings.Repeat("u", MaxNameLen+1)}), "names.uid"},
		{"mac input start with &", LayoutSpec{Mode: "encfile", MACInputStart: "e&x"}, "mac_input_start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.spec.Layout()
			if err == nil {
				_, err = NewProfile(l, Keys{})
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("layout %+v: err = %v, want a FormatError on %s", tc.spec, err, tc.field)
			}
		})
	}
	// Names the mode does not read may repeat the others.
	l, err := LayoutSpec{Mode: "enc", Names: Names{UID: "cmac", Enc: "picc_data"}}.Layout()
	if err == nil {
		_, err = NewProfile(l, Keys{})
	}
	if err != nil {
		t.Errorf("unused names: %v", err)
	}
}
