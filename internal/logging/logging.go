// Package logging builds nfcd's root zap logger: human-readable console
// lines in a terminal, JSON lines for services and files, a size-rotated
// log file (gopkg.in/natefinch/lumberjack.v2), the Windows Event Log for a
// service's start, stop and errors, and redaction of secrets in every
// output.
//
// Only main builds the root logger; components take a *zap.Logger and name
// their own (log.Named("pcsc")). The level is a zap.AtomicLevel so that a
// configuration reload can change it while the daemon runs.
//
// The file core is built directly on lumberjack rather than registered as
// a zap sink: zap parses sink paths as URLs, and "lumberjack:C:\…" loses
// its path on Windows (platform notes §5.3).
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Format is how lines look on stderr.
type Format string

// Formats. Files are always JSON.
const (
	// FormatAuto is console lines when stderr is a terminal and nfcd does
	// not run as a service, and JSON lines otherwise.
	FormatAuto    Format = ""
	FormatConsole Format = "console"
	FormatJSON    Format = "json"
)

// ParseFormat parses a --log-format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatAuto, FormatConsole, FormatJSON:
		return f, nil
	case "auto":
		return FormatAuto, nil
	}
	return "", fmt.Errorf("log format %q: want console, json or auto", s)
}

// ParseLevel parses a --log-level value (debug, info, warn, error; ""
// means info).
func ParseLevel(s string) (zapcore.Level, error) {
	l, err := zapcore.ParseLevel(s)
	if err != nil || l > zapcore.ErrorLevel {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// ColorMode says whether console lines are coloured.
type ColorMode int

// Colour modes.
const (
	// ColorAuto colours console lines on a terminal, unless the NO_COLOR
	// environment variable is set or TERM is "dumb".
	ColorAuto ColorMode = iota
	ColorAlways
	ColorNever
)

// File configures the rotating log file.
type File struct {
	Path       string // "" for no file
	MaxSizeMB  int    // rotate at this size; 0 means 10
	MaxBackups int    // rotated files kept; 0 means 5
	MaxAgeDays int    // delete rotated files older than this; 0 means 30
	Compress   bool   // gzip rotated files
}

// Options configures New.
type Options struct {
	// Level is the minimum level of every output but the system log (which
	// takes warnings and errors, and ServiceEvent entries); the zero value
	// means a new level at Info.
	Level zap.AtomicLevel
	// Stderr receives the lines for the terminal or the journal; nil for
	// none.
	Stderr io.Writer
	// Format is the format of the Stderr lines.
	Format Format
	// Color colours console lines.
	Color ColorMode
	// File is the rotating JSON log file.
	File File
	// Service means running under the service manager: no colour, JSON on
	// stderr (journald reads it), and on Windows the Event Log.
	Service bool
	// SystemLog receives warnings, errors and ServiceEvent entries. When nil
	// and Service is set, Windows opens the event source EventSource.
	SystemLog SystemLogger
	// EventSource is the Windows event log source; "" means "nfcd", the
	// source kardianos/service registers at install.
	EventSource string
	// KeepUIDs logs tag UIDs as they are instead of pseudonyms.
	KeepUIDs bool
	// Getenv reads NO_COLOR and TERM; nil means os.Getenv.
	Getenv func(string) string
}

// Logger is the root logger and what main needs to manage it.
type Logger struct {
	*zap.Logger
	// Level changes the level of the running logger.
	Level zap.AtomicLevel
	file  *lumberjack.Logger
}

// New builds the root logger.
func New(o Options) (*Logger, error) {
	if o.Level == (zap.AtomicLevel{}) {
		o.Level = zap.NewAtomicLevelAt(zapcore.InfoLevel)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	l := &Logger{Level: o.Level}
	var cores []zapcore.Core
	if o.Stderr != nil {
		cores = append(cores, zapcore.NewCore(stderrEncoder(o), zapcore.Lock(zapcore.AddSync(o.Stderr)), o.Level))
	}
	if o.File.Path != "" {
		// lumberjack would create the directory world-readable.
		if err := os.MkdirAll(filepath.Dir(o.File.Path), 0o750); err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		l.file = &lumberjack.Logger{
			Filename:   o.File.Path,
			MaxSize:    orDefault(o.File.MaxSizeMB, 10),
			MaxBackups: orDefault(o.File.MaxBackups, 5),
			MaxAge:     orDefault(o.File.MaxAgeDays, 30),
			Compress:   o.File.Compress,
		}
		// lumberjack is safe for concurrent use: no Lock needed.
		cores = append(cores, zapcore.NewCore(jsonEncoder(), zapcore.AddSync(l.file), o.Level))
	}
	sys := o.SystemLog
	if sys == nil && o.Service {
		src := o.EventSource
		if src == "" {
			src = "nfcd"
		}
		var err error
		if sys, err = openEventLog(src); err != nil {
			l.Close()
			return nil, fmt.Errorf("event log: %w", err)
		}
	}
	if sys != nil {
		cores = append(cores, NewSystemCore(sys))
	}
	l.Logger = zap.New(NewRedactingCore(NewRedactor(o.KeepUIDs), cores...))
	return l, nil
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// jsonEncoder writes the JSON lines of files and services.
func jsonEncoder() zapcore.Encoder {
	c := zap.NewProductionEncoderConfig()
	c.EncodeTime = zapcore.ISO8601TimeEncoder
	c.EncodeDuration = zapcore.StringDurationEncoder
	return zapcore.NewJSONEncoder(c)
}

func stderrEncoder(o Options) zapcore.Encoder {
	f, _ := o.Stderr.(*os.File)
	tty := f != nil && isTerminal(f)
	format := o.Format
	if format == FormatAuto {
		format = FormatJSON
		if tty && !o.Service {
			format = FormatConsole
		}
	}
	if format == FormatJSON {
		return jsonEncoder()
	}
	color := false
	switch o.Color {
	case ColorAlways:
		color = true
	case ColorAuto:
		color = tty && !o.Service && o.Getenv("NO_COLOR") == "" && o.Getenv("TERM") != "dumb" && enableColor(f)
	}
	return newConsoleEncoder(true, true, color)
}

// Rotate starts a new log file now (for SIGHUP or an external logrotate);
// without a file it does nothing.
func (l *Logger) Rotate() error {
	if l.file == nil {
		return nil
	}
	return l.file.Rotate()
}

// Close flushes the outputs and closes the log file. Sync errors are not
// reported: a terminal or a pipe on stderr cannot sync.
func (l *Logger) Close() error {
	if l.Logger != nil {
		_ = l.Logger.Sync()
	}
	if l.file != nil {
		return l.file.Close()
	}
	return nil
}
