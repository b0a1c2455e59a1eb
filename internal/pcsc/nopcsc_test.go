//go:build !cgo && !windows

package pcsc

import (
	"context"
	"errors"
	"testing"
)

// TestOpenWithoutPCSC is what a CGO_ENABLED=0 build does with readers:
// it says it cannot, in an error that matches errors.ErrUnsupported.
func TestOpenWithoutPCSC(t *testing.T) {
	m, err := Open(context.Background(), nil, Options{})
	if m != nil || !errors.Is(err, ErrNotBuilt) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Open = %v, %v; want nil, ErrNotBuilt", m, err)
	}
}
