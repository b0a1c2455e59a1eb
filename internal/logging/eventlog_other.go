//go:build !windows

package logging

// openEventLog returns no system log: outside Windows the service manager
// (systemd's journal) already reads stderr.
func openEventLog(string) (SystemLogger, error) { return nil, nil }
