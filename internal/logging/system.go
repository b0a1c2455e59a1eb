package logging

import (
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// SystemLogger is the platform's system log. kardianos/service's
// service.Logger (the Windows Event Log, syslog elsewhere) satisfies it.
type SystemLogger interface {
	Error(v ...any) error
	Warning(v ...any) error
	Info(v ...any) error
}

const serviceEventKey = "nfcd.service_event"

// ServiceEvent marks an Info entry that belongs in the system log as well:
// the service starting, stopping or reloading. Other outputs do not show
// it. Warnings and errors always go to the system log.
var ServiceEvent = zap.Field{Key: serviceEventKey, Type: zapcore.SkipType}

type systemCore struct {
	l      SystemLogger
	enc    *consoleEncoder
	marked bool // a ServiceEvent came through With
}

// NewSystemCore returns a core that writes warnings, errors and entries
// marked with ServiceEvent to l, as "logger: message key=value …" (the
// system log keeps its own time and level).
func NewSystemCore(l SystemLogger) zapcore.Core {
	return &systemCore{l: l, enc: newConsoleEncoder(false, false, false)}
}

func hasServiceEvent(fields []zapcore.Field) bool {
	for _, f := range fields {
		if f.Key == serviceEventKey && f.Type == zapcore.SkipType {
			return true
		}
	}
	return false
}

// Enabled accepts Info and above; Write drops the unmarked Info entries.
func (c *systemCore) Enabled(l zapcore.Level) bool { return l >= zapcore.InfoLevel }

func (c *systemCore) With(fields []zapcore.Field) zapcore.Core {
	enc := c.enc.Clone().(*consoleEncoder)
	for _, f := range fields {
		f.AddTo(enc)
	}
	return &systemCore{l: c.l, enc: enc, marked: c.marked || hasServiceEvent(fields)}
}

func (c *systemCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *systemCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if e.Level < zapcore.WarnLevel && !c.marked && !hasServiceEvent(fields) {
		return nil
	}
	e.Stack = "" // the event log is for people; the files have the stack
	b, err := c.enc.EncodeEntry(e, fields)
	if err != nil {
		return err
	}
	line := strings.TrimSuffix(b.String(), "\n")
	b.Free()
	switch {
	case e.Level >= zapcore.ErrorLevel:
		return c.l.Error(line)
	case e.Level == zapcore.WarnLevel:
		return c.l.Warning(line)
	}
	return c.l.Info(line)
}

func (c *systemCore) Sync() error { return nil }
