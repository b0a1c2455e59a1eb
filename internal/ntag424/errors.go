package ntag424

import (
	"errors"
	"strings"
)

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

func (e *FormatError) Error() string { return "ntag424: " + e.Reason() }

// Reason returns the machine-readable reason, "bad_format: <field>: <why>".
func (e *FormatError) Reason() string { return "bad_format: " + e.Field + ": " + e.Msg }

// PICCDataError reports decrypted PICCData whose PICCDataTag is not one a
// tag produces: usually a wrong SDMMetaReadKey or a corrupted ciphertext.
type PICCDataError struct {
	Msg string
}

func (e *PICCDataError) Error() string { return "ntag424: " + e.Reason() }

// Reason returns the machine-readable reason, "bad_picc_data: <why>".
func (e *PICCDataError) Reason() string { return "bad_picc_data: " + e.Msg }

// Reason maps the result of Verify to its machine-readable reason: "ok",
// "bad_mac", "bad_format: <field>: <why>" or "bad_picc_data: <why>". Any
// other error maps to "error: <text>".
func Reason(err error) string {
	var fe *FormatError
	var pe *PICCDataError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrBadMAC):
		return "bad_mac"
	case errors.As(err, &fe):
		return fe.Reason()
	case errors.As(err, &pe):
		return pe.Reason()
	}
	return "error: " + strings.TrimPrefix(err.Error(), "ntag424: ")
}

func formatErr(field, msg string) error { return &FormatError{Field: field, Msg: msg} }
