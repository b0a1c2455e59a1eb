package ntag424

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Table8Settings is the GetFileSettings response data of AN12196 Table 8
// (the shared vector an12196-t8-getfilesettings-mac): file 02 with SDM,
// PICCData at 1Fh, SDMENCFileData 20h characters at 44h, SDMMAC at 6Ah.
const table8Settings = "0040EEEE000100D1FE001F00004400004400002000006A0000"

func TestParseFileSettings(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
		want      FileSettings
	}{
		{"AN12196 Table 8", table8Settings, FileSettings{
			CommMode: CommPlain, Size: 256,
			Access: AccessRights{Read: AccessFree, Write: AccessFree, ReadWrite: AccessFree, Change: AccessFree},
			SDM: &SDMSettings{UID: true, ReadCtr: true, ENCFileData: true, MetaRead: 0, FileRead: 0, CtrRet: AccessFree,
				PICCDataOffset: 0x1F, MACInputOffset: 0x44, ENCOffset: 0x44, ENCLength: 0x20, MACOffset: 0x6A},
		}},
		{"factory CC file", "000000E0200000", *FactoryFileSettings(FileCC)},
		{"factory NDEF file", "0000E0EE000100", *FactoryFileSettings(FileNDEF)},
		{"factory proprietary file", "00033023800000", *FactoryFileSettings(FileProprietary)},
		{"plain mirror with limit", "0040E0EE000100E1FFE1" + "200000" + "2E0000" + "200000" + "400000" + "0A0000", FileSettings{
			CommMode: CommPlain, Size: 256, Access: FactoryNDEFAccess,
			SDM: &SDMSettings{UID: true, ReadCtr: true, ReadCtrLimit: true, MetaRead: AccessFree, FileRead: 1, CtrRet: AccessNever,
				UIDOffset: 0x20, ReadCtrOffset: 0x2E, MACInputOffset: 0x20, MACOffset: 0x40, ReadCtrLimitValue: 10},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.hex)
			got, err := ParseFileSettings(b)
			if err != nil {
				t.Fatalf("ParseFileSettings(%s) = %v", tc.hex, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("ParseFileSettings(%s) = %+v (SDM %+v), want %+v (SDM %+v)", tc.hex, *got, got.SDM, tc.want, tc.want.SDM)
			}
			enc, err := got.AppendBinary(nil)
			if err != nil || !bytes.Equal(enc, b) {
				t.Errorf("AppendBinary = %X, %v; want %s", enc, err, tc.hex)
			}
		})
	}
}

func TestParseFileSettingsErrors(t *testing.T) {
	for _, h := range []string{
		"",
		"00000000",
		"01000000200000",               // not StandardData
		"0002E0EE000100",               // CommMode 10b
		"0080E0EE000100",               // RFU FileOption bit
		"0040E0EE000100",               // SDM without options
		"0040E0EE000100C0FFE1",         // ASCII bit clear
		"0040E0EE000100C10FE1",         // RFU nibble of SDMAccessRights not F
		"0040E0EE000100C1FFE120000000", // offsets cut short
		"0000E0EE00010000",             // trailing byte
	} {
		if fs, err := ParseFileSettings(unhex(t, h)); err == nil || fs != nil || !errors.Is(err, ErrFileSettings) {
			t.Errorf("ParseFileSettings(%s) = %+v, %v; want nil, ErrFileSettings", h, fs, err)
		}
	}
}

func TestSDMCheck(t *testing.T) {
	ok := SDMSettings{UID: true, ReadCtr: true, MetaRead: 1, FileRead: 2, CtrRet: AccessNever, PICCDataOffset: 32, MACInputOffset: 67, MACOffset: 67}
	if err := ok.Check(256, CryptoAES); err != nil {
		t.Fatalf("Check(valid) = %v", err)
	}
	for name, mutate := range map[string]func(s *SDMSettings){
		"meta without mirror": func(s *SDMSettings) { s.UID, s.ReadCtr = false, false },
		"uid without meta":    func(s *SDMSettings) { s.MetaRead = AccessNever },
		"ctrret without ctr":  func(s *SDMSettings) { s.ReadCtr, s.CtrRet = false, 1 },
		"enc without both": func(s *SDMSettings) {
			s.ENCFileData, s.ReadCtr, s.ENCOffset, s.ENCLength, s.MACOffset = true, false, 100, 32, 140
		},
		"enc bad length": func(s *SDMSettings) { s.ENCFileData, s.ENCOffset, s.ENCLength, s.MACOffset = true, 100, 48, 160 },
		"enc before mac input": func(s *SDMSettings) {
			s.ENCFileData, s.ENCOffset, s.ENCLength, s.MACInputOffset, s.MACOffset = true, 100, 32, 110, 140
		},
		"enc into mac":      func(s *SDMSettings) { s.ENCFileData, s.ENCOffset, s.ENCLength, s.MACOffset = true, 60, 32, 80 },
		"limit without ctr": func(s *SDMSettings) { s.ReadCtrLimit, s.ReadCtr = true, false },
		"picc past the end": func(s *SDMSettings) { s.PICCDataOffset = 230 },
		"mac past the end":  func(s *SDMSettings) { s.MACOffset, s.MACInputOffset = 250, 250 },
		"input after mac":   func(s *SDMSettings) { s.MACInputOffset = 68 },
		"picc overlaps mac": func(s *SDMSettings) { s.MACOffset, s.MACInputOffset = 40, 40 },
		"file read free":    func(s *SDMSettings) { s.FileRead = AccessFree },
		"bad key number":    func(s *SDMSettings) { s.MetaRead = 7 },
		"lrp picc too long": func(s *SDMSettings) { s.PICCDataOffset, s.MACOffset, s.MACInputOffset = 200, 240, 240 },
	} {
		s := ok
		mutate(&s)
		c := CryptoAES
		if name == "lrp picc too long" {
			c = CryptoLRP
		}
		if err := s.Check(256, c); !errors.Is(err, ErrFileSettings) {
			t.Errorf("Check(%s) = %v, want ErrFileSettings", name, err)
		}
	}
}

// FuzzParseFileSettings: no panic; an error leaves a nil result; what
// parses re-encodes to the same bytes.
func FuzzParseFileSettings(f *testing.F) {
	for _, h := range []string{table8Settings, "0000E0EE000100", "00033023800000", "0040E0EE000100E1FFE1200000" + "2E0000200000400000" + "0A0000"} {
		f.Add(unhex(f, h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ParseFileSettings(b)
		if err != nil {
			if fs != nil {
				t.Fatalf("ParseFileSettings(%X) = %+v with error %v", b, fs, err)
			}
			return
		}
		enc, err := fs.AppendBinary(nil)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("ParseFileSettings(%X) re-encodes to %X, %v", b, enc, err)
		}
	})
}

// FuzzParseChangeData: the tag's parser of ChangeFileSettings data, with
// the same invariants, and Check never panics on what parses.
func FuzzParseChangeData(f *testing.F) {
	f.Add(unhex(f, "4000E0C1F121200000430000430000"))
	f.Add(unhex(f, "00E0EE"))
	f.Add(unhex(f, "4000E0D1FE001F00004400004400002000006A0000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ParseChangeData(b)
		if err != nil {
			if fs != nil {
				t.Fatalf("ParseChangeData(%X) = %+v with error %v", b, fs, err)
			}
			return
		}
		enc, err := fs.AppendChangeData(nil)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("ParseChangeData(%X) re-encodes to %X, %v", b, enc, err)
		}
		if fs.SDM != nil {
			fs.SDM.Check(256, CryptoAES)
			fs.SDM.Check(256, CryptoLRP)
		}
	})
}

// FuzzPlanSDM: any template either fails with a *TemplateError (or a
// layout *FormatError) or yields settings that pass Check and a file whose
// mirror verifies under the profile.
func FuzzPlanSDM(f *testing.F) {
	f.Add("https://a.example/t?picc_data={picc_data}&cmac={cmac}", uint8(ModeEnc), false)
	f.Add("https://a.example/t?uid={uid}&ctr={ctr}&cmac={cmac}", uint8(ModePlain), true)
	f.Add("https://a.example/?picc_data={picc_data}&enc={enc}&cmac={cmac}", uint8(ModeEncFile), false)
	f.Add("{}{{}", uint8(ModeEnc), true)
	keys := [5]Key{1: {1}, 2: {2}}
	f.Fuzz(func(t *testing.T, tmpl string, mode uint8, lrpMode bool) {
		l := Layout{Mode: Mode(mode%3 + 1)}
		if lrpMode {
			l.Crypto = CryptoLRP
		}
		if l.Mode == ModeEncFile {
			l.MACInputStart = "picc_data"
		}
		p, err := PlanSDM(tmpl, l, SDMKeyNos{MetaRead: 1, FileRead: 2, CtrRet: AccessNever}, []byte("0123456789ABCDEF"))
		if err != nil {
			var te *TemplateError
			var fe *FormatError
			if p != nil || (!errors.As(err, &te) && !errors.As(err, &fe)) {
				t.Fatalf("PlanSDM(%q) = %v, %v", tmpl, p, err)
			}
			return
		}
		if err := p.SDM.Check(NDEFFileSize, l.Crypto); err != nil {
			t.Fatalf("PlanSDM(%q) settings fail Check: %v", tmpl, err)
		}
		dyn, err := MirrorFile(p.File, &p.SDM, l.Crypto, &keys, [UIDLen]byte{4, 1, 2, 3, 4, 5, 6}, 7, bytes.NewReader(make([]byte, 64)))
		if err != nil {
			t.Fatalf("MirrorFile(%q) = %v", tmpl, err)
		}
		url, err := URLOf(dyn)
		if err != nil {
			return // a template whose text is no valid URI record (invalid UTF-8)
		}
		prof, err := NewProfile(l, Keys{MetaRead: keys[1], FileRead: keys[2]})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prof.Verify(url); err != nil {
			t.Fatalf("PlanSDM(%q): mirrored %q does not verify: %v", tmpl, url, err)
		}
	})
}
