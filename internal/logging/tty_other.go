//go:build !linux && !windows

package logging

import "os"

// isTerminal reports whether f is a character device, the nearest portable
// test for a terminal.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// enableColor reports whether f shows ANSI colours; terminals here do.
func enableColor(*os.File) bool { return true }
