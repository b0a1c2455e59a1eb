package ntag424

import (
	"errors"
	"testing"
)

func TestStatusWordString(t *testing.T) {
	for _, tc := range []struct {
		sw   StatusWord
		want string
	}{
		{StatusOK, "9000 (ok)"},
		{StatusFileNotFound, "6A82 (file not found)"},
		{StatusSecurity, "6982 (security status not satisfied)"},
		{StatusAuthError, "91AE (authentication error)"},
		{StatusAdditionalFrame, "91AF (additional frame)"},
		{StatusWrongLe, "6C00 (wrong Le)"},
		{0x6C10, "6C10 (wrong Le, 16 bytes available)"},
		{0x6F00, "6F00"},
		{0x0000, "0000"},
	} {
		if got := tc.sw.String(); got != tc.want {
			t.Errorf("StatusWord(%#04x).String() = %q, want %q", uint16(tc.sw), got, tc.want)
		}
	}
	if sw := StatusWord(0x91AE); sw.SW1() != 0x91 || sw.SW2() != 0xAE {
		t.Errorf("SW1, SW2 of 91AE = %02X %02X", sw.SW1(), sw.SW2())
	}
}

// TestStatusErrorSentinels checks the status word to sentinel mapping that
// callers branch on with errors.Is.
func TestStatusErrorSentinels(t *testing.T) {
	sentinels := []error{ErrFileNotFound, ErrSecurity, ErrLength, ErrParameter, ErrAuth,
		ErrPermission, ErrNotSupported, ErrAborted, ErrIntegrity, ErrBoundary}
	for _, tc := range []struct {
		sw   StatusWord
		want error // nil: no sentinel
	}{
		{0x6A82, ErrFileNotFound},
		{0x91F0, ErrFileNotFound},
		{0x6982, ErrSecurity},
		{0x6700, ErrLength},
		{0x917E, ErrLength},
		{0x6C00, ErrLength},
		{0x6C3B, ErrLength},
		{0x6A86, ErrParameter},
		{0x6A87, ErrParameter},
		{0x6A80, ErrParameter},
		{0x919E, ErrParameter},
		{0x91AE, ErrAuth},
		{0x91AD, ErrAuth},
		{0x919D, ErrPermission},
		{0x6D00, ErrNotSupported},
		{0x6E00, ErrNotSupported},
		{0x911C, ErrNotSupported},
		{0x91CA, ErrAborted},
		{0x911E, ErrIntegrity},
		{0x91BE, ErrBoundary},
		{0x6282, ErrBoundary},
		{0x6985, nil},
		{0x6281, nil},
		{0x9000, nil},
		{0x1234, nil},
	} {
		err := error(&StatusError{Cmd: "ReadBinary", SW: tc.sw})
		for _, s := range sentinels {
			if got, want := errors.Is(err, s), s == tc.want; got != want {
				t.Errorf("errors.Is(StatusError{%v}, %v) = %v, want %v", tc.sw, s, got, want)
			}
		}
		var se *StatusError
		if !errors.As(err, &se) || se.SW != tc.sw {
			t.Errorf("errors.As(StatusError{%v}) failed", tc.sw)
		}
	}
}

func TestStatusErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&StatusError{Cmd: "ReadBinary", SW: StatusFileNotFound}, "ntag424: ReadBinary: status 6A82 (file not found)"},
		{&StatusError{Cmd: "ReadData", SW: StatusAuthError}, "ntag424: ReadData: status 91AE (authentication error)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
