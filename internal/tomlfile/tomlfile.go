// Package tomlfile decodes nfcd's TOML files (the daemon configuration and
// profile files) strictly: an unknown key is an error, and every error
// names the file, the line and the key but never quotes the offending
// text, which may be key material.
package tomlfile

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/BurntSushi/toml"
)

// Error is a decoding error: where it happened and what was wrong, never
// the offending text. Line is 0 and Key "" when the decoder did not say.
type Error struct {
	File string
	Line int
	Col  int
	Key  string // dotted, e.g. "profile.mode"
	// Msg is fixed text chosen here ("invalid TOML", "wrong type: …"),
	// never the decoder's own message.
	Msg string
}

// msgUnknownKey is the Msg of an unknown key.
const msgUnknownKey = "unknown key"

func (e *Error) Error() string {
	if e.Msg == msgUnknownKey {
		return fmt.Sprintf("%s: unknown key %q", e.File, e.Key)
	}
	s := e.File + ": " + e.Msg
	switch {
	case e.Line > 0 && e.Col > 0:
		s += fmt.Sprintf(" at line %d, column %d", e.Line, e.Col)
	case e.Line > 0:
		s += fmt.Sprintf(" at line %d", e.Line)
	}
	if e.Key != "" {
		s += fmt.Sprintf(" (key %q)", e.Key)
	}
	return s
}

// Decode decodes the TOML document b into v. name labels the file in
// errors, which are *Error values.
func Decode(name string, b []byte, v any) error {
	md, err := toml.Decode(string(b), v)
	if err != nil {
		return describe(name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return &Error{File: name, Key: und[0].String(), Msg: msgUnknownKey}
	}
	return nil
}

// decodeErr matches the plain errors BurntSushi/toml returns while it
// stores values (type mismatches, values a TextUnmarshaler refused):
// "toml: line N (last key "K"): MESSAGE". Only the line and the key are
// taken from it.
var (
	decodeErr = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)
	typeErr   = regexp.MustCompile(`^incompatible types: TOML value has type ([A-Za-z0-9_.\[\]]+); destination has type ([A-Za-z0-9_.\[\]]+)$`)
)

// describe turns a decoder error into an *Error without its text: the
// parser's messages can quote the offending value, which may be key
// material.
func describe(name string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// Syntax errors, and values the destination refused (a number
		// out of range, a bad duration), which the parser reports alike.
		return &Error{File: name, Line: pe.Position.Line, Col: pe.Position.Col, Key: pe.LastKey, Msg: "invalid TOML"}
	}
	m := decodeErr.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: name, Msg: "invalid TOML"}
	}
	e := &Error{File: name, Msg: "invalid value"}
	e.Line, _ = strconv.Atoi(m[1])
	e.Key, _ = strconv.Unquote(m[2])
	if t := typeErr.FindStringSubmatch(m[3]); t != nil {
		e.Msg = "wrong type: a TOML " + tomlType(t[1]) + " where " + t[2] + " is expected"
	}
	return e
}

// tomlType names the Go type the decoder reports for a TOML value the way
// the TOML specification does.
func tomlType(goType string) string {
	switch goType {
	case "string":
		return "string"
	case "int64":
		return "integer"
	case "float64":
		return "float"
	case "bool":
		return "boolean"
	case "time.Time":
		return "date-time"
	case "[]any", "[]interface {}":
		return "array"
	case "map[string]any", "map[string]interface {}":
		return "table"
	}
	return "value"
}
