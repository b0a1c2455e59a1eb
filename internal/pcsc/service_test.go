package pcsc

import (
	"errors"
	"strings"
	"testing"
)

func TestErrNotBuilt(t *testing.T) {
	if !errors.Is(ErrNotBuilt, errors.ErrUnsupported) {
		t.Error("ErrNotBuilt does not match errors.ErrUnsupported")
	}
	if !strings.Contains(ErrNotBuilt.Error(), "without PC/SC support") {
		t.Errorf("ErrNotBuilt = %q, want it to say the build has no PC/SC support", ErrNotBuilt)
	}
}

func TestServiceHint(t *testing.T) {
	for goos, want := range map[string]string{
		"linux":   "sudo systemctl start pcscd.socket",
		"windows": "SCardSvr",
		"darwin":  "reconnect the reader",
		"freebsd": "pcscd",
	} {
		if got := serviceHint(goos); !strings.Contains(got, want) {
			t.Errorf("serviceHint(%q) = %q, want it to mention %q", goos, got, want)
		}
	}
	if ServiceHint() == "" {
		t.Error("ServiceHint() is empty")
	}
}
