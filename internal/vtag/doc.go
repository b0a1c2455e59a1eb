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
//   - ISOUpdateBinary of files with free write access;
//   - GetVersion (three frames) and Read_Sig (the originality signature);
//   - AuthenticateEV2First and NonFirst, AuthenticateLRPFirst and NonFirst
//     (with the AES/LRP negotiation of §9 Table 19), and in the session
//     they open, secure messaging in CommMode.PLAIN, MAC and FULL with the
//     command counter, transaction identifier and, in LRP, the encryption
//     counter as §9.1-§9.2 say: GetCardUID, GetFileSettings,
//     GetKeyVersion, ChangeFileSettings with SDM options (checked as
//     Table 71 does), WriteData in the file's communication mode, ChangeKey
//     (key 0 with NewKey || KeyVer, ending the session; other keys with
//     the XOR, KeyVer and CRC32 of §10.6.1, refused with 911E when the CRC
//     shows a wrong old key) and SetConfiguration option 05h, which
//     switches the tag to LRP for good.
//
// These answers are checked byte for byte against the worked examples of
// NXP AN12196 (Tables 14 and 20-27) and the LRP authentications of AN12343.
// Not modelled: ReadData, GetFileCounters, the other SetConfiguration
// options, the failed-authentication delay, command chaining, and secure
// messaging on GetVersion and Read_Sig.
//
// A tag is either blank (Config.Blank, `nfcd vtag --blank`: zero keys,
// factory file settings, empty NDEF file), to be personalised over the
// air, or personalised from Config's layout and keys the way nfcd tag
// provision would: SDM keys in slots 1 and 2, the NDEF file and its SDM
// offsets from [ntag424.PlanSDM]. Either way an unauthenticated read of the
// NDEF file returns what [ntag424.MirrorFile] computes from the file's
// static content and SDM settings; TagTamper layouts, which the
// NT4H2421Gx cannot mirror, use [ntag424.Profile.MirrorURL] instead.
//
// The first read of the NDEF file in a presentation advances SDMReadCtr
// and mirrors it; later reads in the same presentation return the same
// bytes, and a presentation nobody reads leaves the counter alone
// (NT4H2421Gx §9.3.3: SDMReadCtr advances on the first read of the file in
// a session); a write or a change of settings or keys
// makes the next read mirror afresh. Scenario flags make the card
// counterfeit, replay an earlier tap, drop the SUN, or fail in the ways a
// reader must survive: a refused select or read, a wrong length, a short
// file and a tag pulled out mid-read; [Card.Pull] pulls it at any APDU.
//
// Everything is deterministic given Config.Rand, which feeds the random
// PICCData padding (AES) and PICCRand (LRP), RndB and the TI.
package vtag
