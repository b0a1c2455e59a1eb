// Package event is the one list of what nfcd reports: the kinds of events,
// with the name each has on the WebSocket API (docs/protocol.md) and in
// `nfcd watch --json`, and the codes of error events.
//
// Readers (internal/pcsc, internal/simulate) report the reader kinds, the
// tap pipeline adds TagRead and Error, the verdict stage publishes them; no
// package spells an event name of its own.
package event

import "strconv"

// Kind is a kind of event.
type Kind uint8

// Kinds, in the order they occur for one reader: ReaderAdded, then any
// number of CardPresent, TagRead (or Error), CardRemoved, then
// ReaderRemoved. VerdictUpdated follows the TagRead it settles, at any
// later point.
const (
	ReaderAdded   Kind = iota + 1 // a reader appeared
	ReaderRemoved                 // a reader went away (or the PC/SC service did)
	CardPresent                   // a card entered the field
	CardRemoved                   // the card left the field
	TagRead                       // a tag was read and judged: a verdict
	Error                         // a reader, a read or the daemon failed
	// VerdictUpdated settles a TagRead later (a remote verification): the
	// same tap, its final verdict.
	VerdictUpdated
	// ServiceChanged: the state of the service behind the readers (the
	// PC/SC service) changed. When the service goes away, its readers
	// are reported removed first; when it is back, this event comes
	// before the readers are added again.
	ServiceChanged
)

var names = [...]struct{ wire, watch string }{
	ReaderAdded:   {"reader.added", "reader_added"},
	ReaderRemoved: {"reader.removed", "reader_removed"},
	CardPresent:   {"card.present", "card_present"},
	CardRemoved:   {"card.removed", "card_removed"},
	TagRead:       {"tag.read", "tag"},
	Error:         {"error", "error"},

	VerdictUpdated: {"verdict.updated", "verdict_updated"},
	// ServiceChanged is named for what it reports: the "pcsc" state of
	// hello and readers.list.
	ServiceChanged: {"pcsc.changed", "pcsc"},
}

// String returns the kind's name on the WebSocket API, e.g. "reader.added".
func (k Kind) String() string {
	if k == 0 || int(k) >= len(names) {
		return "event.Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return names[k].wire
}

// WatchName returns the kind's "type" in `nfcd watch --json`, e.g.
// "reader_added" and "tag" (a contract older than the WebSocket API).
func (k Kind) WatchName() string {
	if k == 0 || int(k) >= len(names) {
		return k.String()
	}
	return names[k].watch
}

// Kinds returns every kind, in declaration order.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(names)-1)
	for k := Kind(1); int(k) < len(names); k++ {
		ks = append(ks, k)
	}
	return ks
}

// Code is the stable code of an error event. Clients branch on it; the
// message that goes with it is fixed text (Message), never an internal
// error's.
type Code string

// Error event codes.
const (
	// CodeReadFailed: the tag could not be read (pulled from the field
	// mid-read, a status word refusing a command, a reader fault).
	CodeReadFailed Code = "read_failed"
	// CodeStoreUnavailable: the replay check could not be recorded, so
	// the tap gets no verdict at all (fail closed).
	CodeStoreUnavailable Code = "store_unavailable"
	// CodeReaderFailed: the reader or the PC/SC service failed; nfcd keeps
	// retrying.
	CodeReaderFailed Code = "reader_failed"
	// CodeQueueFull: a reader's events arrived faster than its tags could
	// be read, and one was dropped.
	CodeQueueFull Code = "queue_full"
)

// Error event codes of the daemon as a whole.
const (
	// CodeConfigRejected: a changed configuration file was refused (it has
	// errors); the daemon keeps running on the configuration it had. The
	// problems are in its log and in `nfcd config check`.
	CodeConfigRejected Code = "config_rejected"
)

var messages = map[Code]string{
	CodeReadFailed:       "the tag could not be read; tap again",
	CodeStoreUnavailable: "the replay check could not be recorded; tap again",
	CodeReaderFailed:     "the reader or the smart-card service failed; retrying",
	CodeQueueFull:        "taps arrived faster than they could be read; one was dropped",
	CodeConfigRejected:   "the changed configuration was refused; the running one is kept",
}

// Message returns the fixed text sent with c.
func (c Code) Message() string {
	if m, ok := messages[c]; ok {
		return m
	}
	return "error"
}

// ErrorPayload is the payload of an error event.
type ErrorPayload struct {
	Reader  string `json:"reader,omitempty"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Detail is a short machine-readable detail that carries no internal
	// error text, e.g. a status word "6A82" or "card_removed".
	Detail string `json:"detail,omitempty"`
}

// EventReader names the event's reader to the publisher (ws.ReaderNamer):
// "reader" is left out when empty.
func (p ErrorPayload) EventReader() (string, bool) { return p.Reader, p.Reader != "" }
