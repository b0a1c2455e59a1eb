package pcsc

import (
	"strings"
	"unicode/utf8"
)

// Reader patterns are case-insensitive globs in which '*' matches any run
// of characters and '?' any one character; nothing else is special, so
// reader names with brackets such as
// "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 00 01" can be written
// literally. The Monitor's filter (filterset.go) and QuirksFor use them.

// matchAny reports whether name matches one of patterns.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if matchGlob(p, name) {
			return true
		}
	}
	return false
}

// matchGlob reports whether name matches pattern, ignoring case. It is the
// classic iterative wildcard match with single-star backtracking, so it runs
// in O(len(pattern)·len(name)) and never recurses.
func matchGlob(pattern, name string) bool {
	p := []rune(strings.ToLower(pattern))
	n := []rune(strings.ToLower(name))
	pi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// validPattern reports whether p is usable as a reader pattern: non-empty
// valid UTF-8.
func validPattern(p string) bool { return p != "" && utf8.ValidString(p) }
