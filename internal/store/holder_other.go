//go:build !linux

package store

// LockHolder names the process that has the database file at path open;
// outside Linux it cannot tell and returns "".
func LockHolder(string) string { return "" }
