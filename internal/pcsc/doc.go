// Package pcsc is nfcd's only door to the PC/SC smart-card stack (pcsc-lite on
// Linux and macOS, WinSCard on Windows) and the only importer of
// github.com/ebfe/scard, and so of cgo on Linux.
//
// It owns three things:
//
//   - reader discovery and card presence: a [Monitor] watches the reader list
//     (through the \\?PnP?\Notification pseudo-reader, or by polling where PnP
//     is unsupported) and runs one goroutine per reader blocked in
//     SCardGetStatusChange without a timeout (a change, or SCardCancel at
//     shutdown, ends the wait: an idle monitor wakes nobody), turning state
//     changes into [Event]s with exactly one [CardPresent] per
//     presentation; under [Monitor.RunReading] that goroutine also runs
//     the caller's read of the card before sending its CardPresent;
//   - raw card access: [Monitor.Connect] returns a [Card] whose
//     [Card.Transmit] satisfies the one-method Transmitter interface that the
//     tag code declares;
//   - error classification: every PC/SC failure is returned as an [*Error]
//     that matches a sentinel such as [ErrCardRemoved] or [ErrNoService] with
//     errors.Is, and also the underlying scard.Error.
//
// It also knows a few reader models by name ([QuirksFor]) so that nfcd can
// silence their detection beep and signal a verdict with their LED and buzzer.
//
// The known sharp edges of ebfe/scard (panics on an empty state slice, on
// Transmit over a direct connection and on an empty command; the ATR that
// survives removal; the pcsc-lite event counter in the high 16 bits of the
// state) are handled here so that no caller ever meets them (ebfe/scard
// scard.go and pcsc-lite src/winscard_clnt.c; each is pinned by a test).
//
// The Monitor reports the state of the PC/SC service itself (running, or
// gone and being retried) as event.ServiceChanged events; [ServiceHint]
// tells people how to start the service on this OS.
//
// On Linux and macOS ebfe/scard needs cgo. A build without cgo
// (CGO_ENABLED=0, e.g. a kiosk image without a C toolchain) keeps the rest
// of nfcd: [Open] then returns [ErrNotBuilt], which matches
// errors.ErrUnsupported (nopcsc.go). Windows needs no cgo.
package pcsc
