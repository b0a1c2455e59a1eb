//go:build cgo || windows

package pcsc

// filter selects readers by name. Patterns are case-insensitive globs in
// which '*' matches any run of characters and '?' any one character; nothing
// else is special, so reader names with brackets such as
// "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 00 01" can be written
// literally.
type filter struct {
	include []string // empty: everything
	exclude []string
}

// allows reports whether a reader named name passes the filter: it matches
// at least one include pattern (or there are none) and no exclude pattern.
func (f filter) allows(name string) bool {
	if len(f.include) > 0 && !matchAny(f.include, name) {
		return false
	}
	return !matchAny(f.exclude, name)
}
