//go:build !linux

package pcsc

// Denied reports whether err is the PC/SC service refusing this process.
// Only pcsc-lite's polkit integration refuses clients that way; elsewhere
// a refusal is reported as such (Windows: access denied) and this is false.
func Denied(error) bool { return false }
