package ntag424

import "errors"

// ErrBadMAC reports that a SUN message's SDMMAC did not verify. It says
// nothing about which step failed, by design: a wrong key, a forged counter
// and a flipped bit all look the same to the caller.
var ErrBadMAC = errors.New("ntag424: bad_mac")

// FormatError reports a SUN message or layout that is malformed: a missing,
// duplicated or wrongly sized parameter, non-hex digits, or a MAC input
// window that does not cover what it must.
type FormatError struct {
	Field string // the parameter or layout field at fault, e.g. "uid", "mac_input_start"
	Msg   string // why, e.g. "want 14 hex digits, got 13"
}

func (e *FormatError) Error() string { return "ntag424: bad format: " + e.Field + ": " + e.Msg }

// PICCDataError reports decrypted PICCData whose PICCDataTag is not one a
// tag produces: usually a wrong SDMMetaReadKey or a corrupted ciphertext.
type PICCDataError struct {
	Msg string
}

func (e *PICCDataError) Error() string { return "ntag424: bad PICCData: " + e.Msg }

func formatErr(field, msg string) error { return &FormatError{Field: field, Msg: msg} }
