// Package vtag is a virtual NXP NTAG 424 DNA (NT4H2421Gx): a card that
// answers command APDUs the way the real tag does, through a PC/SC
// contactless reader, for the commands nfcd uses, and that computes its
// Secure Dynamic Messaging (SDM/SUN) mirror at read time.
//
// A [Card] serves two callers:
//
//   - `nfcd vtag`, which inserts it into the "Virtual PCD" reader that
//     vsmartcard-vpcd adds to a real pcscd ([Run] drives one insertion per
//     tap through internal/vpcd), so that the whole PC/SC path is exercised
//     without hardware;
//   - a simulated reader in the same process, which calls
//     [Card.Presentation] for each tap and [Card.Transmit] for each APDU.
//
// What the card implements (NT4H2421Gx Rev. 3.0 §10; ISO/IEC 7816-4; PC/SC
// Part 3):
//
//   - the PC/SC pseudo-ATR 3B 81 80 01 80 80 and GET DATA (FF CA) for the UID,
//     which a real reader answers itself but vpcd forwards to the card;
//   - ISOSelectFile by DF name (D2760000850101, the NDEF application) and by
//     file identifier (E103 CC file, E104 NDEF file, E105 proprietary file,
//     E110 the application, 3F00 the PICC level);
//   - ISOReadBinary by current file or by short file identifier. The short
//     ISO FileID of an NTAG 424 DNA file is its file number: 01 CC, 02 NDEF,
//     03 proprietary, so the NDEF file is read with P1 = 82 (not 84, which
//     the low five bits of E104 would suggest; a real tag answers 6A82);
//   - GetVersion (three frames), Read_Sig (the originality signature) and
//     GetCardUID (refused without authentication, as on the real tag).
//
// The NDEF file holds one URI record. The first read of it in a
// presentation advances SDMReadCtr and mirrors the SUN parameters into the
// URL with [ntag424.Profile.MirrorURL]; later reads in the same presentation
// return the same bytes, and a presentation nobody reads leaves the counter
// alone (NT4H2421Gx §9.3.3: SDMReadCtr advances on the first read of the
// file in a session). Scenario flags make the card
// counterfeit, replay an earlier tap, drop the SUN, or fail in the ways a
// reader must survive: a refused select or read, a wrong length, a short
// file and a tag pulled out mid-read.
//
// Everything is deterministic given Config.Rand, which feeds the random
// PICCData padding (AES) and PICCRand (LRP).
package vtag
