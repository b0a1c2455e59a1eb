package logging

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// ConsoleTimeLayout is the time at the start of a console line.
const ConsoleTimeLayout = "2006-01-02 15:04:05.000"

// consoleEncoder writes the human-readable line
//
//	2026-05-01 12:00:00.000 INFO  tap: verdict reader="ACS ACR1252U" verdict=authentic latency_ms=41
//
// Fields are encoded by zap's JSON encoder, which also keeps the context
// of With, and then rewritten as key=value pairs in their order; nested
// objects become dotted keys, arrays stay JSON.
type consoleEncoder struct {
	zapcore.Encoder // the fields only, as JSON
	time, level     bool
	color           bool
}

var bufferPool = buffer.NewPool()

func newConsoleEncoder(time, level, color bool) *consoleEncoder {
	return &consoleEncoder{
		Encoder: zapcore.NewJSONEncoder(zapcore.EncoderConfig{
			EncodeDuration: zapcore.StringDurationEncoder,
			EncodeTime:     zapcore.ISO8601TimeEncoder,
			SkipLineEnding: true,
		}),
		time: time, level: level, color: color,
	}
}

func (e *consoleEncoder) Clone() zapcore.Encoder {
	c := *e
	c.Encoder = e.Encoder.Clone()
	return &c
}

const (
	ansiReset = "\x1b[0m"
	ansiFaint = "\x1b[2m"
)

var levelColors = map[zapcore.Level]string{
	zapcore.DebugLevel: "\x1b[35m", // magenta
	zapcore.InfoLevel:  "\x1b[34m", // blue
	zapcore.WarnLevel:  "\x1b[33m", // yellow
}

func (e *consoleEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	js, err := e.Encoder.EncodeEntry(zapcore.Entry{}, fields)
	if err != nil {
		return nil, err
	}
	defer js.Free()
	out := bufferPool.Get()
	sep := func() {
		if out.Len() > 0 {
			out.AppendByte(' ')
		}
	}
	if e.time {
		out.AppendString(ent.Time.Format(ConsoleTimeLayout))
	}
	if e.level {
		sep()
		lv := ent.Level.CapitalString()
		if e.color {
			c, ok := levelColors[ent.Level]
			if !ok {
				c = "\x1b[31m" // red: error and worse
			}
			out.AppendString(c + lv + ansiReset)
		} else {
			out.AppendString(lv)
		}
		for i := len(lv); i < 5; i++ {
			out.AppendByte(' ')
		}
	}
	sep()
	if ent.LoggerName != "" {
		out.AppendString(ent.LoggerName)
		out.AppendString(": ")
	}
	out.AppendString(ent.Message)
	e.appendPairs(out, "", js.Bytes())
	if ent.Stack != "" {
		out.AppendByte('\n')
		out.AppendString(ent.Stack)
	}
	out.AppendByte('\n')
	return out, nil
}

// appendPairs writes the members of the JSON object obj as key=value.
func (e *consoleEncoder) appendPairs(out *buffer.Buffer, prefix string, obj []byte) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return
		}
		if len(raw) > 0 && raw[0] == '{' {
			e.appendPairs(out, prefix+key+".", raw)
			continue
		}
		out.AppendByte(' ')
		if e.color {
			out.AppendString(ansiFaint)
		}
		out.AppendString(prefix + key + "=")
		if e.color {
			out.AppendString(ansiReset)
		}
		if len(raw) > 0 && raw[0] == '"' {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				out.AppendString(quoteIfNeeded(s))
				continue
			}
		}
		out.AppendString(string(raw))
	}
}

// quoteIfNeeded returns s bare when it is one plain word, and quoted
// otherwise, so that every line splits back into its pairs.
func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == '"' || r == '=' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}
