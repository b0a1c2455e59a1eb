package vtag

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/testvectors"
)

// link is a Transmitter straight into the card, checking each exchange
// against an expected transcript when one is given.
type link struct {
	t    *testing.T
	c    *Card
	want [][2][]byte // command, response
}

func (l *link) Transmit(_ context.Context, apdu []byte) ([]byte, error) {
	l.t.Helper()
	rsp := l.c.Transmit(apdu)
	if len(l.want) > 0 {
		w := l.want[0]
		l.want = l.want[1:]
		if !bytes.Equal(apdu, w[0]) {
			l.t.Errorf("PCD sent %X, AN12196 shows %X", apdu, w[0])
		}
		if !bytes.Equal(rsp, w[1]) {
			l.t.Errorf("tag answered %X to %X, AN12196 shows %X", rsp, apdu, w[1])
		}
	}
	if len(rsp) == 0 {
		return nil, ntag424.ErrCardRemoved
	}
	return rsp, nil
}

func vectorByID(t *testing.T, id string) testvectors.Vector {
	t.Helper()
	for _, v := range testvectors.Load(t) {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("vector %s missing", id)
	return testvectors.Vector{}
}

// authExchange returns AN12196's part 1 and part 2 exchanges of an
// ev2_auth vector, the RndB the tag drew and RndA.
func authExchange(t *testing.T, id, part2Resp string) (ex [][2][]byte, rndB, rndA []byte) {
	v := vectorByID(t, id)
	in := v.Input
	keyNo := byte(in["key_no"].(float64))
	first := ntag424.EV2AuthFirstCommand(keyNo)
	if testvectors.String(in, "auth_cmd") == "77" {
		first = ntag424.EV2AuthNonFirstCommand(keyNo)
	}
	var p2 []byte
	if part2Resp != "" {
		p2 = h(part2Resp)
	} else {
		p2 = testvectors.Hex(t, in, "part2_resp")
	}
	return [][2][]byte{
		{first, append(testvectors.Hex(t, in, "enc_rnd_b"), 0x91, 0xAF)},
		{testvectors.Hex(t, v.Expected, "part2_capdu"), append(p2, 0x91, 0x00)},
	}, testvectors.Hex(t, v.Expected, "rnd_b"), testvectors.Hex(t, in, "rnd_a")
}

func smExchange(t *testing.T, id string) [2][]byte {
	v := vectorByID(t, id)
	rsp := []byte{}
	if _, ok := v.Input["resp_mact"]; ok {
		rsp = append(testvectors.Hex(t, v.Input, "resp_data"), testvectors.Hex(t, v.Input, "resp_mact")...)
	}
	return [2][]byte{testvectors.Hex(t, v.Expected, "capdu"), append(rsp, 0x91, 0x00)}
}

// TestAN12196Session plays AN12196's second personalisation session
// against a blank card whose randomness is the document's RndB and TI, and
// requires every answer to be the document's byte for byte: Table 20
// AuthenticateEV2First with key 3, Table 22 WriteData (FULL) of the
// proprietary file, Table 24 AuthenticateEV2NonFirst with key 0, Table 25
// WriteData (PLAIN) of the CC file, Table 26 ChangeKey of key 2 (case 1,
// CRC32), Table 27 ChangeKey of key 0 (case 2, no MAC, session over).
// Table 14's AuthenticateEV2First with key 0 is checked the same way.
func TestAN12196Session(t *testing.T) {
	ctx := context.Background()
	zero := new(ntag424.Key)

	t.Run("table 14", func(t *testing.T) {
		ex, rndB, rndA := authExchange(t, "an12196-t14-auth-ev2first-key0", "")
		c := newCard(t, Config{Blank: true, Rand: bytes.NewReader(append(rndB, h("9D00C4DF")...))})
		c.Presentation()
		l := &link{t: t, c: c}
		if err := ntag424.SelectApplication(ctx, l); err != nil {
			t.Fatal(err)
		}
		l.want = ex
		if _, err := ntag424.Authenticate(ctx, l, 0, zero, ntag424.CryptoAES, bytes.NewReader(rndA)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("tables 20-27", func(t *testing.T) {
		a3, rndB3, rndA3 := authExchange(t, "an12196-t20-auth-ev2first-key3", "")
		a0, rndB0, rndA0 := authExchange(t, "an12196-t24-auth-ev2nonfirst-key0", "B888349C24B315EAB5B589E279C8263E")
		cc := vectorByID(t, "an12196-t25-writedata-cc-plain").Input
		var rnd []byte
		rnd = append(append(append(rnd, rndB3...), h("7614281A")...), rndB0...)
		c := newCard(t, Config{Blank: true, Rand: bytes.NewReader(rnd)})
		c.Presentation()
		l := &link{t: t, c: c}
		if err := ntag424.SelectApplication(ctx, l); err != nil {
			t.Fatal(err)
		}
		l.want = append(append(a3, smExchange(t, "an12196-t22-writedata-full")), a0...)
		l.want = append(l.want,
			[2][]byte{testvectors.Hex(t, cc, "capdu"), testvectors.Hex(t, cc, "rapdu")},
			smExchange(t, "an12196-t26-changekey-case1"),
			smExchange(t, "an12196-t27-changekey-case2"))
		ch, err := ntag424.Authenticate(ctx, l, 3, zero, ntag424.CryptoAES, bytes.NewReader(append(rndA3, rndA0...)))
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.WriteData(ctx, ntag424.FileProprietary, 0, h("0102030405060708090A"), ntag424.CommFull); err != nil {
			t.Fatal(err)
		}
		if err := ch.Reauthenticate(ctx, 0, zero); err != nil {
			t.Fatal(err)
		}
		if err := ch.WriteData(ctx, ntag424.FileCC, 14, h("FF0506E10500808283000000000000000000"), ntag424.CommPlain); err != nil {
			t.Fatal(err)
		}
		key2 := ntag424.Key(h("F3847D627727ED3BC9C4CC050489B966"))
		if err := ch.ChangeKey(ctx, 2, &key2, zero, 0x01); err != nil {
			t.Fatal(err)
		}
		key0 := ntag424.Key(h("5004BF991F408672B1EF00F08F9E8647"))
		if err := ch.ChangeKey(ctx, 0, &key0, nil, 0x01); err != nil {
			t.Fatal(err)
		}
		if len(l.want) != 0 {
			t.Errorf("%d exchanges of AN12196 not played", len(l.want))
		}
		st := c.State()
		if st.Keys[0] != key0 || st.Keys[2] != key2 || st.KeyVersions != [5]byte{1, 0, 1, 0, 0} {
			t.Errorf("keys %X versions %v", st.Keys, st.KeyVersions)
		}
		if !bytes.Equal(st.Files[2][:10], h("0102030405060708090A")) || !bytes.Equal(st.Files[0][14:17], h("FF0506")) {
			t.Errorf("files: CC %X, proprietary %X", st.Files[0], st.Files[2])
		}
	})
}

// TestLRPAuthVectors answers AuthenticateLRPFirst from a card in LRP mode
// whose randomness is the vector's RndB and TI: the PICCData (and, where
// printed, PICCResponse) must be the vector's (johnnyb/ntag424-java and
// AN12343 via icedevml/nfc-ev2-crypto).
func TestLRPAuthVectors(t *testing.T) {
	for _, v := range testvectors.Load(t, "lrp_auth") {
		t.Run(v.ID, func(t *testing.T) {
			c := newCard(t, Config{Blank: true, Rand: bytes.NewReader(append(testvectors.Hex(t, v.Input, "rnd_b"), testvectors.Hex(t, v.Expected, "ti")...))})
			c.lrp = true
			c.Presentation()
			xfer(t, c, "00A4040C07D276000085010100", swOK)
			p1 := xfer(t, c, "9071000003000102"+"00", swNativeMore)
			if !bytes.Equal(p1, append([]byte{1}, testvectors.Hex(t, v.Input, "rnd_b")...)) {
				t.Fatalf("part 1 = %X", p1)
			}
			key := ntag424.Key(testvectors.Hex(t, v.Input, "key"))
			rndA := [16]byte(testvectors.Hex(t, v.Input, "rnd_a"))
			capdu, rndB, err := ntag424.LRPAuthPart2(&key, &rndA, p1)
			if err != nil {
				t.Fatal(err)
			}
			rsp := c.Transmit(capdu)
			if !bytes.Equal(rsp[len(rsp)-2:], []byte{0x91, 0x00}) || len(rsp) != 34 {
				t.Fatalf("part 2 = %X", rsp)
			}
			if want := testvectors.Hex(t, v.Input, "picc_data"); !bytes.Equal(rsp[:16], want) {
				t.Errorf("PICCData = %X, want %X", rsp[:16], want)
			}
			if _, ok := v.Input["picc_response"]; ok {
				if want := testvectors.Hex(t, v.Input, "picc_response"); !bytes.Equal(rsp[16:32], want) {
					t.Errorf("PICCResponse = %X, want %X", rsp[16:32], want)
				}
			}
			s, err := ntag424.LRPAuthFinish(&key, &rndA, &rndB, rsp[:32])
			if err != nil {
				t.Fatalf("LRPAuthFinish = %v", err)
			}
			if testvectors.Upper(s.TI[:]) != testvectors.String(v.Expected, "ti") {
				t.Errorf("TI %X", s.TI)
			}
		})
	}
}

// TestSecureMessaging runs every command of a session through the card in
// AES and LRP mode, and the rules the data sheet attaches to them.
func TestSecureMessaging(t *testing.T) {
	ctx := context.Background()
	for _, crypto := range []ntag424.Crypto{ntag424.CryptoAES, ntag424.CryptoLRP} {
		t.Run(crypto.String(), func(t *testing.T) {
			c := newCard(t, Config{Blank: true, Rand: seeded(3)})
			c.lrp = crypto == ntag424.CryptoLRP
			c.Presentation()
			l := &link{t: t, c: c}
			if err := ntag424.SelectApplication(ctx, l); err != nil {
				t.Fatal(err)
			}
			zero := new(ntag424.Key)
			rnd := seeded(4)
			ch, err := ntag424.Authenticate(ctx, l, 0, zero, crypto, rnd)
			if err != nil || ch.Crypto() != crypto {
				t.Fatalf("Authenticate = %v, crypto %v", err, ch.Crypto())
			}
			uid, err := ch.GetCardUID(ctx)
			if err != nil || !bytes.Equal(uid, DefaultUID[:]) {
				t.Errorf("GetCardUID = %X, %v", uid, err)
			}
			fs, err := ch.GetFileSettings(ctx, ntag424.FileNDEF)
			if err != nil || !reflect.DeepEqual(fs, ntag424.FactoryFileSettings(ntag424.FileNDEF)) {
				t.Errorf("GetFileSettings = %+v, %v", fs, err)
			}
			plan, err := ntag424.PlanSDM("https://t.example/?picc_data={picc_data}&cmac={cmac}", ntag424.Layout{Mode: ntag424.ModeEnc, Crypto: crypto},
				ntag424.SDMKeyNos{MetaRead: 1, FileRead: 2, CtrRet: 2}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := ch.WriteData(ctx, ntag424.FileNDEF, 0, plan.File, ntag424.CommPlain); err != nil {
				t.Fatal(err)
			}
			want := &ntag424.FileSettings{CommMode: ntag424.CommPlain, Access: ntag424.AccessRights{Read: ntag424.AccessFree}, SDM: &plan.SDM}
			if err := ch.ChangeFileSettings(ctx, ntag424.FileNDEF, want); err != nil {
				t.Fatal(err)
			}
			k1, k2 := ntag424.Key{1: 0x11}, ntag424.Key{2: 0x22}
			if err := ch.ChangeKey(ctx, 1, &k1, zero, 7); err != nil {
				t.Fatal(err)
			}
			// A wrong old key: the CRC does not match, nothing changes.
			if err := ch.ChangeKey(ctx, 2, &k2, &k1, 7); !errors.Is(err, ntag424.ErrIntegrity) || ch.Authenticated() {
				t.Errorf("ChangeKey with a wrong old key = %v", err)
			}
			if c.State().Keys[2] != (ntag424.Key{}) {
				t.Error("ChangeKey with a wrong old key changed the key")
			}
			if ch, err = ntag424.Authenticate(ctx, l, 0, zero, crypto, rnd); err != nil {
				t.Fatal(err)
			}
			if err := ch.ChangeKey(ctx, 2, &k2, zero, 7); err != nil {
				t.Fatal(err)
			}
			// Only key 0 may change keys; key 1 proves itself with NonFirst.
			if err := ch.Reauthenticate(ctx, 1, &k1); err != nil {
				t.Fatal(err)
			}
			if err := ch.ChangeKey(ctx, 3, &k2, zero, 1); !errors.Is(err, ntag424.ErrAuth) {
				t.Errorf("ChangeKey under key 1 = %v, want ErrAuth", err)
			}
			if ch, err = ntag424.Authenticate(ctx, l, 0, zero, crypto, rnd); err != nil {
				t.Fatal(err)
			}
			if v, err := ch.GetKeyVersion(ctx, 2); err != nil || v != 7 {
				t.Errorf("GetKeyVersion(2) = %d, %v", v, err)
			}
			if err := ch.Reauthenticate(ctx, 2, zero); !errors.Is(err, ntag424.ErrAuth) {
				t.Errorf("NonFirst with the old key 2 = %v, want ErrAuth", err)
			}
			// Not authenticated any more: GetFileSettings in the clear.
			got, err := ntag424.ReadFileSettings(ctx, l, ntag424.FileNDEF)
			want.Size = 256
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("ReadFileSettings = %+v, %v; want %+v", got, err, want)
			}
			if v, err := ntag424.ReadKeyVersion(ctx, l, 1); err != nil || v != 7 {
				t.Errorf("ReadKeyVersion(1) = %d, %v", v, err)
			}
			// The NDEF file now mirrors a SUN that verifies; writing it
			// needs key 0 now.
			prof, err := ntag424.NewProfile(ntag424.Layout{Mode: ntag424.ModeEnc, Crypto: crypto}, ntag424.Keys{MetaRead: k1, FileRead: k2})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 3; i++ {
				c.Presentation()
				r, err := ntag424.ReadTag(ctx, l, ntag424.ReadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if res, err := prof.Verify(r.URL); err != nil || res.Ctr != ntag424.CounterOf(uint32(i)) || res.UID != DefaultUID {
					t.Errorf("tap %d: Verify(%s) = %+v, %v", i, r.URL, res, err)
				}
			}
			xfer(t, c, "00A4040C07D276000085010100", swOK)
			xfer(t, c, "908D00000802000000010000"+"41"+"00", swNativeAuth)
			if crypto == ntag424.CryptoAES {
				// SetConfiguration: LRP for good, SDM off, AES refused.
				if ch, err = ntag424.Authenticate(ctx, l, 0, zero, crypto, rnd); err != nil {
					t.Fatal(err)
				}
				if err := ch.SetConfiguration(ctx, ntag424.ConfigCapability, ntag424.LRPCapabilityData[:]); err != nil {
					t.Fatal(err)
				}
				if st := c.State(); !st.LRP || st.Settings[1].SDM != nil {
					t.Errorf("after SetConfiguration: LRP %v, SDM %+v", st.LRP, st.Settings[1].SDM)
				}
				if _, err := ntag424.Authenticate(ctx, l, 0, zero, ntag424.CryptoAES, rnd); !errors.Is(err, ntag424.ErrPermission) {
					t.Errorf("AES after LRP = %v, want ErrPermission", err)
				}
				if ch, err := ntag424.Authenticate(ctx, l, 0, zero, ntag424.CryptoLRP, rnd); err != nil || ch.Crypto() != ntag424.CryptoLRP {
					t.Errorf("LRP after SetConfiguration = %v", err)
				}
			}
		})
	}
}

// TestPull: a pulled tag answers nothing until the next presentation, and
// a command carried out before the field dropped has taken effect.
func TestPull(t *testing.T) {
	ctx := context.Background()
	c := newCard(t, Config{Blank: true, Rand: seeded(5)})
	c.Presentation()
	l := &link{t: t, c: c}
	ntag424.SelectApplication(ctx, l)
	ch, err := ntag424.Authenticate(ctx, l, 0, new(ntag424.Key), ntag424.CryptoAES, seeded(6))
	if err != nil {
		t.Fatal(err)
	}
	c.Pull(1, true)
	k := ntag424.Key{9}
	if err := ch.ChangeKey(ctx, 0, &k, nil, 1); !errors.Is(err, ntag424.ErrCardRemoved) {
		t.Errorf("ChangeKey when pulled = %v", err)
	}
	if len(c.ATR()) != 0 || len(c.Transmit(h("FFCA000000"))) != 0 {
		t.Error("a pulled tag still answers")
	}
	if c.State().Keys[0] != k {
		t.Error("the command carried out before the pull did not take effect")
	}
	c.Presentation()
	c.Pull(2, false)
	xfer(t, c, "00A4040C07D276000085010100", swOK)
	if rsp := c.Transmit(h("9064000001000000")); len(rsp) != 0 {
		t.Errorf("second APDU answered %X", rsp)
	}
}
