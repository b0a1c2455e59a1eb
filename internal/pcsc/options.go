package pcsc

import "time"

// Defaults for Options.
const (
	DefaultPollInterval = time.Second
	DefaultBackoffMin   = 100 * time.Millisecond
	DefaultBackoffMax   = time.Second
)

// Options configures a Monitor. The zero value watches every reader.
type Options struct {
	// Include and Exclude select readers by name with case-insensitive globs
	// ('*' any run, '?' one character; nothing else is special). A reader
	// is watched if it matches some Include pattern (or Include is empty)
	// and no Exclude pattern, e.g. Exclude: []string{"*SAM*"} skips SAM
	// slots.
	Include, Exclude []string

	// Feedback enables reader LED/buzzer control: silencing the reader's own
	// detection beep on first Connect and Monitor.Feedback. Off by default.
	Feedback bool

	// ForcePolling ignores PnP notification and re-lists readers every
	// PollInterval, as is done anyway where PnP is unsupported.
	ForcePolling bool

	// PollInterval is how often the reader list is re-read where PnP
	// notification is unsupported or ForcePolling is set. With PnP the
	// list is re-read only when the notification says it changed, so an
	// idle monitor wakes nobody. Default DefaultPollInterval.
	PollInterval time.Duration

	// WaitTimeout, if positive, bounds each per-reader
	// SCardGetStatusChange. The default, 0, waits without a timeout
	// (INFINITE): card changes end the wait, and SCardCancel ends it at
	// shutdown or when the context is reset, so an idle reader costs no
	// wake-ups.
	WaitTimeout time.Duration

	// Metrics, if set, counts context resets and watched readers.
	Metrics Metrics

	// TraceAPDU logs every APDU exchanged with a card (command header,
	// status word, timing; data only where it holds neither keys nor MACs:
	// see traceFields), for support. Off by default.
	TraceAPDU bool

	// BackoffMin and BackoffMax bound the delay between attempts to
	// re-establish the PC/SC context after the service went away. The delay
	// doubles from BackoffMin to BackoffMax, so a restarted service is seen
	// within about BackoffMax. Defaults DefaultBackoffMin, DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
}

// ReaderInfo is a snapshot of one watched reader.
type ReaderInfo struct {
	Name        string
	CardPresent bool
	ATR         []byte // of the card present, nil if none
}
