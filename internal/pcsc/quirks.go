package pcsc

// Command is one reader-control message: either a PC/SC pseudo-APDU (class
// FF) sent with Transmit over a card connection, which the reader firmware
// answers itself, or a vendor escape sent with SCardControl.
type Command struct {
	Escape bool   // send through the reader's escape ioctl instead of Transmit
	Data   []byte // the APDU or escape payload
}

// Quirks is what nfcd knows about one reader model (and the card in it).
// The zero value describes a generic reader with no host-controlled
// feedback.
type Quirks struct {
	// Name is the model, e.g. "ACS ACR122U"; empty for an unknown reader.
	Name string

	// Silence, if non-nil, turns off the reader's own beep on every card
	// detection, so that the only sound is nfcd's verdict. It is sent once
	// per reader, on the first Connect, when feedback is enabled.
	Silence *Command

	// OK and Fail signal a verdict with the reader's LED and buzzer. Nil
	// means the reader has no host-controlled feedback.
	OK, Fail *Command

	// ForwardsPseudoAPDUs reports whether the "reader" passes class-FF
	// pseudo-APDUs such as GET DATA (FF CA) to the card instead of answering
	// them itself. True for vsmartcard's vpcd, whose virtual card must
	// implement them (vsmartcard virtualsmartcard/doc/api.txt).
	ForwardsPseudoAPDUs bool

	// Contactless reports whether the ATR is a PC/SC Part 3 contactless
	// pseudo-ATR (3B 8n 80 01 …), as built by the reader for ISO 14443 and
	// NFC tags; an NTAG 424 DNA shows 3B 81 80 01 80 80 (PC/SC Part 3
	// §3.1.3.2.3).
	Contactless bool
}

// ACR122U-compatible "Bi-color LED and Buzzer Control" pseudo-APDU:
// FF 00 40 <P2 LED state control> 04 <T1> <T2> <repetitions> <buzzer link>,
// T1/T2 in 100 ms units (ACS ACR122U API §6.2; the ACR1252U family accepts it
// too, ACM1252U-Y3 reference manual §5.6.1). P2 leaves the final LED state
// masks (bits 2–3) clear, so the reader's own idle LED behaviour resumes
// after the blink.
var (
	// Green blink mask (bit 7) + initial green on (bit 5); 200 ms on, 100 ms
	// off, once, buzzer during T1: one short beep.
	acsOK = &Command{Data: []byte{0xFF, 0x00, 0x40, 0xA0, 0x04, 0x02, 0x01, 0x01, 0x01}}
	// Red blink mask (bit 6) + initial red on (bit 4); 100 ms on, 100 ms
	// off, three times, buzzer during T1: three quick beeps.
	acsFail = &Command{Data: []byte{0xFF, 0x00, 0x40, 0x50, 0x04, 0x01, 0x01, 0x03, 0x01}}
)

// quirkTable is matched in order; the first entry whose reader pattern
// matches wins.
var quirkTable = []struct {
	readers []string // globs, as in Options.Include
	q       Quirks
}{
	{
		// ACR122U: "Set buzzer output during card detection" FF 00 52 P2 00,
		// P2 00 = off (ACR122U API §6.7). dividat/driver sends it over a card
		// connection because most drivers refuse commands without a card.
		readers: []string{"*ACR122*"},
		q: Quirks{
			Name:    "ACS ACR122U",
			Silence: &Command{Data: []byte{0xFF, 0x00, 0x52, 0x00, 0x00}},
			OK:      acsOK,
			Fail:    acsFail,
		},
	},
	{
		// ACR1252U: "Set LED and Buzzer Status Indicator Behavior for PICC
		// Interface" escape E0 00 00 21 01 <behavior>; default 7F, bit 3 is
		// the card insertion/removal beep, so 77 silences only that
		// (ACM1252U-Y3 reference manual §5.3.6–5.3.7). Escapes need
		// SCARD_CTL_CODE(3500) on Windows and acsccid, SCARD_CTL_CODE(1) plus
		// ifdDriverOptions 0x0001 on libccid (CCID SCARDCONTROL.md).
		readers: []string{"*ACR1252*"},
		q: Quirks{
			Name:    "ACS ACR1252U",
			Silence: &Command{Escape: true, Data: []byte{0xE0, 0x00, 0x00, 0x21, 0x01, 0x77}},
			OK:      acsOK,
			Fail:    acsFail,
		},
	},
	{
		// uTrust 3700 F: no documented host LED/buzzer control; libccid gives
		// it a 4× read timeout because it needs ~350 ms to answer (CCID
		// src/ccid_usb.c).
		readers: []string{"*uTrust 3700*", "*Identiv*"},
		q:       Quirks{Name: "Identiv uTrust 3700 F"},
	},
	{
		// OMNIKEY 5022/5427: LED/buzzer only through HID's proprietary
		// escapes, which Windows' class driver blocks unless
		// EscapeCommandEnable is set (hidglobal/HID-OMNIKEY-Sample-Codes#1);
		// not used.
		readers: []string{"*OMNIKEY*"},
		q:       Quirks{Name: "HID OMNIKEY"},
	},
	{
		readers: []string{"Virtual PCD*"},
		q:       Quirks{Name: "vsmartcard vpcd", ForwardsPseudoAPDUs: true},
	},
}

// QuirksFor returns what is known about the reader named readerName holding
// a card with the given ATR (nil if none).
func QuirksFor(readerName string, atr []byte) Quirks {
	var q Quirks
	for _, e := range quirkTable {
		if matchAny(e.readers, readerName) {
			q = e.q
			break
		}
	}
	q.Contactless = isContactlessATR(atr)
	return q
}

// isContactlessATR reports whether atr has the PC/SC Part 3 (§3.1.3.2.3)
// shape for a contactless card: TS=3B, T0=8n (TD1 present, n historical
// bytes), TD1=80 (TD2 present, T=0), TD2=01 (T=1), n historical bytes, TCK.
func isContactlessATR(atr []byte) bool {
	if len(atr) < 5 || atr[0] != 0x3B || atr[1]&0xF0 != 0x80 || atr[2] != 0x80 || atr[3] != 0x01 {
		return false
	}
	n := int(atr[1] & 0x0F)
	if len(atr) != 4+n+1 {
		return false
	}
	var tck byte
	for _, b := range atr[1:] { // TCK makes the XOR of T0…TCK zero
		tck ^= b
	}
	return tck == 0
}
