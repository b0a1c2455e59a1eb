package logging

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// enableColor reports whether f shows ANSI colours; terminals here do.
func enableColor(*os.File) bool { return true }
