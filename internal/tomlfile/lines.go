package tomlfile

import (
	"reflect"
	"strconv"
	"strings"
)

// Lines says on which line of a TOML document each key is set, so that
// errors found after decoding (a key of the wrong length, a listen address
// that is not loopback) can point at the line to fix. Keys are dotted, and
// the i-th table of an array of tables is written with its index from 0:
// "listen", "log.level", "profile[1].sdm_file_read_key",
// "profile[1].names.cmac"; a table header is found under the table's own
// key ("profile[1]", "log").
//
// It reads only what nfcd's files use: bare and quoted keys, dotted keys,
// [tables], [[arrays of tables]], and values that span lines (arrays,
// multi-line strings), whose inner lines it skips.
type Lines struct {
	lines map[string]int
	// order lists the keys in document order, for Find.
	order []string
}

// Index scans the TOML document b. A document that does not parse still
// gives the lines of what precedes the error.
func Index(b []byte) *Lines {
	l := &Lines{lines: map[string]int{}}
	arrays := map[string]int{} // array of tables → tables seen
	table := ""                // the current table's key
	var cont continuation
	for n, raw := range strings.Split(string(b), "\n") {
		line := n + 1
		if cont.open() {
			cont.scan(raw)
			continue
		}
		s := strings.TrimSpace(raw)
		switch {
		case s == "" || s[0] == '#':
			continue
		case strings.HasPrefix(s, "[["):
			end := strings.Index(s, "]]")
			if end < 0 {
				continue
			}
			name := resolveTable(splitKey(s[2:end]), arrays)
			table = name + "[" + strconv.Itoa(arrays[name]) + "]"
			arrays[name]++
			l.set(table, line)
			continue
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				continue
			}
			table = resolveTable(splitKey(s[1:end]), arrays)
			l.set(table, line)
			continue
		}
		eq := keyEnd(s)
		if eq < 0 {
			continue
		}
		key := strings.Join(splitKey(s[:eq]), ".")
		if table != "" {
			key = table + "." + key
		}
		l.set(key, line)
		cont.scan(s[eq+1:])
	}
	return l
}

func (l *Lines) set(key string, line int) {
	if _, ok := l.lines[key]; !ok {
		l.lines[key] = line
		l.order = append(l.order, key)
	}
}

// Line returns the line that sets key, or the line of the nearest table
// that holds it, or 0 when neither is in the document.
func (l *Lines) Line(key string) int {
	for key != "" {
		if n, ok := l.lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

// Find returns the lines that set key, a dotted key without indexes as
// the decoder reports unknown keys ("profile.nmae"): one line for every
// table of an array of tables that sets it, in document order.
func (l *Lines) Find(key string) []int {
	var out []int
	for _, k := range l.order {
		if stripIndexes(k) == key {
			out = append(out, l.lines[k])
		}
	}
	return out
}

// stripIndexes removes the "[i]" parts of a key.
func stripIndexes(k string) string {
	if !strings.Contains(k, "[") {
		return k
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(k, '[')
		if i < 0 {
			b.WriteString(k)
			return b.String()
		}
		b.WriteString(k[:i])
		j := strings.IndexByte(k[i:], ']')
		if j < 0 {
			return b.String()
		}
		k = k[i+j+1:]
	}
}

// resolveTable turns a table header's parts into a key: a prefix naming an
// array of tables refers to its latest table ([profile.names] after the
// second [[profile]] is "profile[1].names").
func resolveTable(parts []string, arrays map[string]int) string {
	key := ""
	for i, p := range parts {
		if i > 0 {
			key += "."
		}
		key += p
		if n, ok := arrays[key]; ok && i < len(parts)-1 {
			key += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return key
}

// keyEnd returns the index of the '=' that ends the key at the start of s,
// or -1 when s does not start with a key.
func keyEnd(s string) int {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		case c == '#':
			return -1
		}
	}
	return -1
}

// splitKey splits a (possibly dotted, possibly quoted) key into its parts.
func splitKey(s string) []string {
	var parts []string
	for {
		s = strings.TrimSpace(s)
		if s == "" {
			return parts
		}
		var part string
		switch s[0] {
		case '"', '\'':
			end := 1
			for end < len(s) && s[end] != s[0] {
				if s[0] == '"' && s[end] == '\\' {
					end++
				}
				end++
			}
			part = s[:min(end+1, len(s))]
			if u, err := strconv.Unquote(strings.ReplaceAll(part, "'", "\"")); err == nil {
				part = u
			} else {
				part = strings.Trim(part, `"'`)
			}
			s = s[min(end+1, len(s)):]
		default:
			end := strings.IndexByte(s, '.')
			if end < 0 {
				end = len(s)
			}
			part = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		parts = append(parts, part)
		s = strings.TrimPrefix(strings.TrimSpace(s), ".")
	}
}

// continuation follows a value across lines: open brackets of arrays and
// inline tables, and multi-line strings.
type continuation struct {
	depth int    // open [ and {
	multi string // `"""` or `'''` while inside a multi-line string
}

func (c *continuation) open() bool { return c.depth > 0 || c.multi != "" }

// scan reads one line (or the rest of one) of a value.
func (c *continuation) scan(s string) {
	for i := 0; i < len(s); i++ {
		if c.multi != "" {
			if strings.HasPrefix(s[i:], c.multi) {
				i += 2
				c.multi = ""
			} else if s[i] == '\\' && c.multi == `"""` {
				i++
			}
			continue
		}
		switch ch := s[i]; ch {
		case '#':
			return
		case '"', '\'':
			q := string([]byte{ch, ch, ch})
			if strings.HasPrefix(s[i:], q) {
				c.multi = q
				i += 2
				continue
			}
			for i++; i < len(s) && s[i] != ch; i++ {
				if ch == '"' && s[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			c.depth++
		case ']', '}':
			if c.depth > 0 {
				c.depth--
			}
		}
	}
}

// Keys returns the dotted keys that a value of v's type accepts, in field
// order, from the toml tags of its structs (embedded structs contribute
// their keys; slices of structs are arrays of tables, written without an
// index). Config keys and the documentation are checked against it.
func Keys(v any) []string {
	var out []string
	walkKeys(reflect.TypeOf(v), "", &out)
	return out
}

func walkKeys(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			walkKeys(ft, prefix, out)
			continue
		}
		if name == "" {
			name = f.Name
		}
		key := prefix + name
		if isTable(ft) {
			walkKeys(ft, key+".", out)
			continue
		}
		*out = append(*out, key)
	}
}

// isTable reports whether t decodes from a TOML table or array of tables
// (a struct without its own text decoding, or a slice of those).
func isTable(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	return !reflect.PointerTo(t).Implements(textUnmarshaler)
}

var textUnmarshaler = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
