package web_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// verdictNames returns the verdicts and reason codes of
// internal/verdict/names.go, the one list the page must cover.
func verdictNames(t *testing.T) (verdicts, reasons []string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../internal/verdict/names.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				switch {
				case strings.HasPrefix(name.Name, "Reason"):
					reasons = append(reasons, v)
				case strings.HasPrefix(name.Name, "Fleet"), strings.HasPrefix(name.Name, "Remote"):
					// the states of the fleet and remote checks, not verdicts
				default:
					verdicts = append(verdicts, v)
				}
			}
		}
	}
	if len(verdicts) < 5 || len(reasons) < 7 {
		t.Fatalf("found %d verdicts and %d reasons in names.go; the parser missed some", len(verdicts), len(reasons))
	}
	return verdicts, reasons
}

// stringTables returns the keys and values of each language's table in
// strings.js.
func stringTables(t *testing.T) map[string]map[string]string {
	t.Helper()
	src, err := os.ReadFile("strings.js")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]map[string]string{}
	var cur map[string]string
	lang := regexp.MustCompile(`^  ([a-z]{2}): \{$`)
	entry := regexp.MustCompile(`^    "([a-z0-9_.]+)":\s*("(?:[^"\\]|\\.)*")?,?$`)
	pending := ""
	for _, line := range strings.Split(string(src), "\n") {
		if m := lang.FindStringSubmatch(line); m != nil {
			cur = map[string]string{}
			tables[m[1]] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if pending != "" {
			// A value on the line after its key.
			v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(line), ","))
			if err != nil {
				t.Fatalf("strings.js: value of %q: %v", pending, err)
			}
			cur[pending], pending = v, ""
			continue
		}
		if m := entry.FindStringSubmatch(line); m != nil {
			if m[2] == "" {
				pending = m[1]
				continue
			}
			v, err := strconv.Unquote(m[2])
			if err != nil {
				t.Fatalf("strings.js: value of %q: %v", m[1], err)
			}
			cur[m[1]] = v
		}
	}
	if len(tables["en"]) < 50 {
		t.Fatalf("read %d English strings from strings.js; the test's parser is out of step", len(tables["en"]))
	}
	return tables
}

// TestStrings: every verdict and reason code of names.go has words on the
// page, in every language; the translations cover the English table; no
// string shows a code.
func TestStrings(t *testing.T) {
	verdicts, reasons := verdictNames(t)
	tables := stringTables(t)
	if _, ok := tables["de"]; !ok {
		t.Fatal("strings.js has no German table")
	}
	// Codes with an underscore are no English words: none may show.
	var codes []string
	for _, c := range append(verdicts, reasons...) {
		if strings.Contains(c, "_") {
			codes = append(codes, c)
		}
	}
	for lang, tab := range tables {
		for _, v := range verdicts {
			for _, part := range []string{"title", "short", "sub"} {
				if k := "verdict." + v + "." + part; tab[k] == "" {
					t.Errorf("%s: no %s", lang, k)
				}
			}
		}
		for _, r := range reasons {
			k := "reason." + r
			if _, ok := tab[k]; !ok {
				t.Errorf("%s: no %s", lang, k)
			}
			if r != "ok" && tab[k] == "" {
				t.Errorf("%s: %s is empty", lang, k)
			}
		}
		for k := range tables["en"] {
			if _, ok := tab[k]; !ok {
				t.Errorf("%s: no translation of %s", lang, k)
			}
		}
		for k, s := range tab {
			for _, c := range codes {
				if regexp.MustCompile(`\b` + c + `\b`).MatchString(s) {
					t.Errorf("%s: %s shows the code %q: %q", lang, k, c, s)
				}
			}
		}
	}
	// A replayed tap at a reader is a clone: say so, ask for staff, and
	// do not invite another try.
	en := tables["en"]
	replay := en["verdict.replayed.title"] + " " + en["verdict.replayed.sub"]
	for _, want := range []string{"cloned", "staff"} {
		if !strings.Contains(replay, want) {
			t.Errorf("the replayed wording %q does not say %q", replay, want)
		}
	}
	if strings.Contains(strings.ToLower(replay), "again") || strings.Contains(strings.ToLower(replay), "try") {
		t.Errorf("the replayed wording %q invites another try", replay)
	}
}
