package main

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestMessagesSayWhatToDo: input mistakes name the flag at fault and how
// to fix it (exit 2); failures name the thing once, without stutter, and
// point at the next step (exit 1).
func TestMessagesSayWhatToDo(t *testing.T) {
	state := t.TempDir()
	if _, _, err := runCLI(t, "", "token", "create", "--name", "pos-1", "--state-dir", state); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want []string // in stderr, or in the error for exit 1
		not  []string
	}{
		{[]string{"verify", "--mode", "encfile", "https://x.example/?picc_data=00&enc=00&cmac=00"}, 2,
			[]string{"--mode encfile", "--mac-input-start picc_data", "authenticated"}, []string{"ntag424"}},
		{[]string{"verify", "--mode", "lrp", samplePlain}, 2, []string{"--mode: must be plain, enc or encfile"}, []string{"bad format", "ntag424"}},
		{[]string{"verify", "--file-key", "00", samplePlain}, 2, []string{"--file-key: want 32 hex digits"}, nil},
		{[]string{"readers", "--wait", "0s"}, 2, []string{"--wait: want a positive duration"}, nil},
		// vtag refuses before it touches vpcd.
		{[]string{"vtag", "--taps", "-1"}, 2, []string{"--taps, --dwell and --gap must not be negative"}, nil},
		{[]string{"vtag", "--mode", "encfile"}, 2, []string{"--mac-input-start picc_data"}, []string{"ntag424"}},
		{[]string{"token", "create", "--name", "pos-1", "--state-dir", state}, 1,
			[]string{`token: create "pos-1": name already exists`, "nfcd token revoke --name pos-1"}, []string{"token: name"}},
		{[]string{"token", "revoke", "--name", "pos-2", "--state-dir", state}, 1,
			[]string{`token: revoke "pos-2": no token with that name`, "nfcd token list"}, []string{"token: no"}},
		{[]string{"token", "create", "--name", "pos 1", "--state-dir", state}, 2, []string{`--name "pos 1": want 1 to 64 letters`}, nil},
		{[]string{"key", "show", "--state-dir", filepath.Join(state, "typo")}, 1, []string{"does not exist"}, nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errOut, err := runCLI(t, "", tc.args...)
			if code := exitCode(err, io.Discard); code != tc.code {
				t.Errorf("exit %d (%v), want %d", code, err, tc.code)
			}
			text := errOut
			if err != nil && !errors.Is(err, errUsage) {
				text += err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("message lacks %q:\n%s", w, text)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(text, n) {
					t.Errorf("message contains %q:\n%s", n, text)
				}
			}
		})
	}
}

// TestVerifyModeHint: a URL malformed under the default plain mode that
// carries encrypted PICCData gets a hint at the mode it needs.
func TestVerifyModeHint(t *testing.T) {
	out, _, err := runCLI(t, "", "verify", sampleEnc)
	if !errors.Is(err, errInvalid) || !strings.Contains(out, "hint     the URL carries encrypted PICCData: try --mode enc") {
		t.Errorf("verify (plain) of an enc URL: %v\n%s", err, out)
	}
	out, _, _ = runCLI(t, "", "verify", "https://x.example/?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086")
	if !strings.Contains(out, "--mode enc --names picc_data=e,cmac=c") {
		t.Errorf("verify (plain) of an e=/c= URL lacks the --names hint:\n%s", out)
	}
	if out, _, _ := runCLI(t, "", "verify", "--mode", "enc", sampleEnc); strings.Contains(out, "hint") {
		t.Errorf("an authentic result got a hint:\n%s", out)
	}
}
