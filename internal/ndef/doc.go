// Package ndef parses and builds NFC Data Exchange Format (NDEF) messages, the
// records inside them, and the NDEF file of an NFC Forum Type 4 Tag such as
// the NXP NTAG 424 DNA.
//
// The wire formats come from these NFC Forum documents:
//
//   - NFC Data Exchange Format (NDEF) Technical Specification 1.0
//     (NFCForum-TS-NDEF_1.0): message and record layout, header flags, TNF.
//   - URI Record Type Definition 1.0 (NFCForum-TS-RTD_URI_1.0): the "U"
//     record and its 36 URI identifier codes.
//   - Text Record Type Definition 1.0 (NFCForum-TS-RTD_Text_1.0): the "T"
//     record, its status byte, language code and UTF-8/UTF-16 text.
//   - Smart Poster Record Type Definition 1.0: the "Sp" record, whose payload
//     is a nested NDEF message holding one URI record.
//   - Type 4 Tag Technical Specification (mapping version 2.0): the NDEF file
//     is a 2-byte big-endian NLEN followed by NLEN bytes of NDEF message.
//
// The parser is strict. Parse and ParseFile reject a missing MB or ME flag, a
// second MB, bytes after the ME record, reserved TNF values, TNF Empty records
// that carry data, TNF Unknown records that carry a type, and any length that
// runs past the input. Chunked records (the CF flag, or TNF Unchanged) are
// rejected with ErrChunked: nfcd only reads small tags, which never chunk.
// Every rejection is a *SyntaxError naming the byte offset at fault, and
// wraps ErrTruncated, ErrChunked or ErrNoMessage where a caller may want to
// branch on the cause.
//
// # Aliasing
//
// To keep the tap path cheap, the Type, ID and Payload slices of the records
// returned by Parse and ParseFile alias the input buffer: they are not
// copies. Parsing a one-record file allocates only the Message slice. A
// caller that reuses or modifies the input must copy what it keeps (or keep
// the strings returned by Record.URI and Record.Text, which are copies).
//
// # Encoding
//
// Message.MarshalBinary and Message.AppendBinary set MB on the first record
// and ME on the last, use the short record form (SR) whenever the payload is
// shorter than 256 bytes, and set IL only when a record has an ID. EncodeFile
// and AppendFile prefix the message with NLEN. NewURIRecord and
// NewTextRecord build the two record types nfcd writes.
package ndef
