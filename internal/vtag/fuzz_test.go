package vtag

import (
	"strings"
	"testing"
)

// FuzzTransmit drives a card with arbitrary APDU sequences. The first byte
// picks the layout and fault; the rest is a list of length-prefixed APDUs,
// where the lengths FD, FE and FF instead mean Reset, a power cycle and a new
// presentation. Invariants: no panic; every response is a status word with
// at most 256 data bytes, or empty only after FaultRemoved fired; and every
// URL the card served verifies.
func FuzzTransmit(f *testing.F) {
	seq := func(sel byte, apdus ...string) []byte {
		b := []byte{sel}
		for _, a := range apdus {
			switch a {
			case "reset":
				b = append(b, 0xFD)
			case "power":
				b = append(b, 0xFE)
			case "tap":
				b = append(b, 0xFF)
			default:
				x := h(a)
				b = append(append(b, byte(len(x))), x...)
			}
		}
		return b
	}
	for sel := range byte(len(layouts) * len(faults)) {
		f.Add(seq(sel, "tap", "00A4040C07D276000085010100", "00B0820000", "tap", "00A4040C07D276000085010100",
			"00A4000C02E104", "00B0000002", "00B000023B", "00B0003D3B", "9060000000", "90AF000000", "90AF000000",
			"903C0000010000", "FFCA000000", "reset", "00B0810000", "power", "00B0820000"))
	}
	f.Add(seq(0, "", "00", "00A4", "00A4040C00", "00B0", "90AF000000", "00B09F0000", "00B0FFFF00"))
	// A blank tag: authenticate (the PCD's part 2 is wrong), write, change.
	blank := append([]byte{0, 0xFC}, seq(0, "tap", "00A4040C07D276000085010100", "9071000002000000",
		"90AF000020"+strings.Repeat("11", 32)+"00", "9071000003000102"+"00", "9077000001000000",
		"908D00000C020000000500000102030405"+"00", "905F0000030200E0EE"+"00", "90F5000001020"+"0",
		"9064000001000000", "90C400001100"+strings.Repeat("22", 17)+"00", "905C00000B05"+strings.Repeat("00", 10)+"00",
		"00D6000004"+"00030102", "9051000000")[1:]...)
	f.Add(blank)

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		l := layouts[int(in[0])%len(layouts)]
		fault := faults[int(in[0])/len(layouts)%len(faults)]
		cfg := Config{UID: testUID, URL: "https://sdm.example/t", Layout: l.layout, Keys: l.keys,
			Fault: fault, Replay: in[0]&0x80 != 0, Rand: seeded(in[0])}
		blank := len(in) > 1 && in[1] == 0xFC // a factory-fresh tag
		if blank {
			cfg = Config{UID: testUID, Blank: true, Rand: seeded(in[0])}
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		prof := c.prof
		rest := in[1:]
		if blank {
			rest = in[2:]
		}
		for len(rest) > 0 {
			n := int(rest[0])
			rest = rest[1:]
			switch n {
			case 0xFD:
				c.Reset()
				continue
			case 0xFE:
				c.PowerOff()
				c.PowerOn()
				continue
			case 0xFF:
				c.Presentation()
				continue
			}
			n = min(n, len(rest))
			apdu := rest[:n]
			rest = rest[n:]
			rsp := c.Transmit(apdu)
			switch {
			case len(rsp) == 0:
				if fault != FaultRemoved || !c.gone {
					t.Fatalf("Transmit(% X) = empty without FaultRemoved", apdu)
				}
			case len(rsp) < 2 || len(rsp) > 258:
				t.Fatalf("Transmit(% X) = % X: bad length %d", apdu, rsp, len(rsp))
			}
		}
		if url := c.LastURL(); url != "" && !blank {
			if _, err := prof.Verify(url); err != nil {
				t.Fatalf("served %s, which does not verify: %v", url, err)
			}
		}
	})
}
