package ntag424

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/nfcd/nfcd/internal/testvectors"
)

// vectorByID returns the shared vector id.
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

// authSteps returns the two exchanges of an ev2_auth vector: part 1 and
// part 2 with the tag's answers. respPart2 overrides the vector's
// part2_resp (AuthenticateEV2NonFirst answers E(K, RndA') only).
func authSteps(t *testing.T, id string, respPart2 string) ([]step, []byte) {
	t.Helper()
	v := vectorByID(t, id)
	in := v.Input
	keyNo := byte(in["key_no"].(float64))
	first := EV2AuthFirstCommand(keyNo)
	if testvectors.String(in, "auth_cmd") == "77" {
		first = EV2AuthNonFirstCommand(keyNo)
	}
	p2 := testvectors.String(in, "part2_resp")
	if respPart2 != "" {
		p2 = respPart2
	}
	return []step{
		{cmd: first, rsp: append(testvectors.Hex(t, in, "enc_rnd_b"), 0x91, 0xAF)},
		{cmd: testvectors.Hex(t, v.Expected, "part2_capdu"), rsp: append(unhex(t, p2), 0x91, 0x00)},
	}, testvectors.Hex(t, in, "rnd_a")
}

// smStep returns the exchange of an ev2_sm vector: its C-APDU and the
// tag's R-APDU (response data, MACt, 91 RC), or a bare 9100 when the
// vector has no response MAC.
func smStep(t *testing.T, id string) step {
	t.Helper()
	v := vectorByID(t, id)
	rsp := []byte{}
	if _, ok := v.Input["resp_mact"]; ok {
		rsp = append(testvectors.Hex(t, v.Input, "resp_data"), testvectors.Hex(t, v.Input, "resp_mact")...)
	}
	return step{cmd: testvectors.Hex(t, v.Expected, "capdu"), rsp: append(rsp, 0x91, 0x00)}
}

// TestChannelAN12196 drives Channel through the two personalisation
// sessions AN12196 works through byte by byte, and the tag side answers
// with the document's bytes:
//
//   - Table 14 AuthenticateEV2First key 0, Table 18 WriteData (FULL) of the
//     NDEF file, Table 19 ChangeFileSettings enabling SUN;
//   - Table 20 AuthenticateEV2First key 3, Table 22 WriteData (FULL) of
//     E105, Table 24 AuthenticateEV2NonFirst key 0, Table 25 WriteData
//     (PLAIN) of the CC file, Table 26 ChangeKey of key 2, Table 27 ChangeKey
//     of key 0, after which the session is gone.
func TestChannelAN12196(t *testing.T) {
	ctx := context.Background()
	zero := new(Key)

	t.Run("tables 14, 18, 19", func(t *testing.T) {
		auth, rndA := authSteps(t, "an12196-t14-auth-ev2first-key0", "")
		card := newFakeCard(t, "AN12196 session 1", append(auth,
			smStep(t, "an12196-t18-writedata-full"),
			smStep(t, "an12196-t19-changefilesettings-full"))...)
		ch, err := Authenticate(ctx, card, 0, zero, CryptoAES, bytes.NewReader(rndA))
		if err != nil {
			t.Fatal(err)
		}
		if ti := ch.TI(); testvectors.Upper(ti[:]) != "9D00C4DF" || ch.Crypto() != CryptoAES {
			t.Errorf("TI %X, crypto %v", ti, ch.Crypto())
		}
		ndef := testvectors.Hex(t, vectorByID(t, "an12196-t18-writedata-full").Input, "cmd_data")
		if err := ch.WriteData(ctx, FileNDEF, 0, ndef, CommFull); err != nil {
			t.Fatal(err)
		}
		fs, err := ParseChangeData(testvectors.Hex(t, vectorByID(t, "an12196-t19-changefilesettings-full").Input, "cmd_data"))
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.ChangeFileSettings(ctx, FileNDEF, fs); err != nil {
			t.Fatal(err)
		}
		card.done()
	})

	t.Run("tables 20, 22, 24-27", func(t *testing.T) {
		auth3, rndA3 := authSteps(t, "an12196-t20-auth-ev2first-key3", "")
		// Table 24: the tag answers part 2 with E(K, RndA') only.
		auth0, rndA0 := authSteps(t, "an12196-t24-auth-ev2nonfirst-key0", "B888349C24B315EAB5B589E279C8263E")
		cc := vectorByID(t, "an12196-t25-writedata-cc-plain").Input
		steps := append(auth3, smStep(t, "an12196-t22-writedata-full"))
		steps = append(steps, auth0...)
		steps = append(steps,
			step{cmd: testvectors.Hex(t, cc, "capdu"), rsp: testvectors.Hex(t, cc, "rapdu")},
			smStep(t, "an12196-t26-changekey-case1"),
			smStep(t, "an12196-t27-changekey-case2"))
		card := newFakeCard(t, "AN12196 session 2", steps...)
		ch, err := Authenticate(ctx, card, 3, zero, CryptoAES, bytes.NewReader(append(rndA3, rndA0...)))
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.WriteData(ctx, FileProprietary, 0, unhex(t, "0102030405060708090A"), CommFull); err != nil {
			t.Fatal(err)
		}
		if err := ch.Reauthenticate(ctx, 0, zero); err != nil {
			t.Fatal(err)
		}
		if err := ch.WriteData(ctx, FileCC, 14, unhex(t, "FF0506E10500808283000000000000000000"), CommPlain); err != nil {
			t.Fatal(err)
		}
		key2 := Key(unhex(t, "F3847D627727ED3BC9C4CC050489B966"))
		if err := ch.ChangeKey(ctx, 2, &key2, zero, 0x01); err != nil {
			t.Fatal(err)
		}
		key0 := Key(unhex(t, "5004BF991F408672B1EF00F08F9E8647"))
		if err := ch.ChangeKey(ctx, 0, &key0, nil, 0x01); err != nil {
			t.Fatal(err)
		}
		if ch.Authenticated() {
			t.Error("session survives a change of its own key")
		}
		if _, err := ch.GetKeyVersion(ctx, 0); !errors.Is(err, ErrNotAuthenticated) {
			t.Errorf("command after ChangeKey(0) = %v, want ErrNotAuthenticated", err)
		}
		card.done()
	})
}

// TestChannelErrors: a wrong key is a StatusError matching ErrAuth, a
// refused command ends the session, and a response whose MAC fails is
// ErrResponseMAC.
func TestChannelErrors(t *testing.T) {
	ctx := context.Background()
	zero := new(Key)
	auth, rndA := authSteps(t, "an12196-t14-auth-ev2first-key0", "")

	wrong := newFakeCard(t, "wrong key", auth[0], step{cmd: auth[1].cmd, rsp: []byte{0x91, 0xAE}})
	if _, err := Authenticate(ctx, wrong, 0, zero, CryptoAES, bytes.NewReader(rndA)); !errors.Is(err, ErrAuth) {
		t.Errorf("91AE to part 2: %v, want ErrAuth", err)
	}
	lrpTag := newFakeCard(t, "tag in LRP mode", step{cmd: EV2AuthFirstCommand(0), rsp: []byte{0x91, 0x9D}})
	if _, err := Authenticate(ctx, lrpTag, 0, zero, CryptoAES, bytes.NewReader(rndA)); !errors.Is(err, ErrPermission) {
		t.Errorf("919D to part 1: %v, want ErrPermission", err)
	}

	w := smStep(t, "an12196-t18-writedata-full")
	refused := newFakeCard(t, "refused", append(auth, step{cmd: w.cmd, rsp: []byte{0x91, 0x9D}})...)
	ch, err := Authenticate(ctx, refused, 0, zero, CryptoAES, bytes.NewReader(rndA))
	if err != nil {
		t.Fatal(err)
	}
	ndef := testvectors.Hex(t, vectorByID(t, "an12196-t18-writedata-full").Input, "cmd_data")
	var se *StatusError
	if err := ch.WriteData(ctx, FileNDEF, 0, ndef, CommFull); !errors.As(err, &se) || se.SW != StatusPermissionDenied || ch.Authenticated() {
		t.Errorf("919D: %v, authenticated %v", err, ch.Authenticated())
	}

	badMAC := w
	badMAC.rsp = bytes.Clone(w.rsp)
	badMAC.rsp[0] ^= 1
	forged := newFakeCard(t, "forged MAC", append(auth, badMAC)...)
	ch, _ = Authenticate(ctx, forged, 0, zero, CryptoAES, bytes.NewReader(rndA))
	if err := ch.WriteData(ctx, FileNDEF, 0, ndef, CommFull); !errors.Is(err, ErrResponseMAC) || ch.Authenticated() {
		t.Errorf("forged response MAC: %v", err)
	}
}
