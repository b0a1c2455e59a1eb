package nfcd_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// stringConsts returns the values of the string constants of type typ
// declared in the Go file at path ("" for untyped constants whose name
// starts with one of the prefixes of names).
func stringConsts(t *testing.T, path, typ string, names ...string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			var tname string
			switch ty := vs.Type.(type) {
			case *ast.Ident:
				tname = ty.Name
			case *ast.SelectorExpr: // ws.Code
				tname = ty.Sel.Name
			}
			if typ != "" && tname != typ {
				continue
			}
			if typ == "" && !slices.ContainsFunc(names, func(p string) bool { return strings.HasPrefix(vs.Names[0].Name, p) }) {
				continue
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s constants in %s", typ, path)
	}
	return out
}

// TestErrorCodesDocumented: docs/protocol.md section 6 is the one table of
// every error code nfcd sends — the socket's and HTTP's (internal/ws), the
// daemon's error events (internal/event), the authentication station's
// (internal/station, internal/legitmark) and remote verification's
// (internal/remoteverify) — and names no code that does not exist; the
// other docs name only codes that exist.
func TestErrorCodesDocumented(t *testing.T) {
	codes := slices.Concat(
		stringConsts(t, "internal/ws/protocol.go", "Code"),
		stringConsts(t, "internal/event/event.go", "Code"),
		stringConsts(t, "internal/remoteverify/api.go", "Code"),
		stringConsts(t, "internal/station/errors.go", "", "Code"),
		stringConsts(t, "internal/legitmark/image.go", "", "Image"),
	)
	// The station's codes from legitmark.ErrorCode are the keys of its
	// table of fixed messages.
	stationSrc, err := os.ReadFile("internal/station/errors.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\t"([a-z_]+)": +"`).FindAllStringSubmatch(string(stationSrc), -1) {
		if !slices.Contains(codes, m[1]) {
			codes = append(codes, m[1])
		}
	}
	doc, err := os.ReadFile("docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	start := strings.Index(sec, "## 6. Error codes")
	end := strings.Index(sec, "## 7.")
	if start < 0 || end < start {
		t.Fatal("docs/protocol.md has no section 6, Error codes")
	}
	sec = sec[start:end]
	var table []string
	for _, row := range regexp.MustCompile("(?m)^\\| (`[a-z_]+`(?:, `[a-z_]+`)*) \\|").FindAllStringSubmatch(sec, -1) {
		for _, c := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(row[1], -1) {
			table = append(table, c[1])
		}
	}
	for _, c := range codes {
		if !slices.Contains(table, c) {
			t.Errorf("docs/protocol.md section 6 lacks the code %q", c)
		}
	}
	for _, c := range table {
		if !slices.Contains(codes, c) {
			t.Errorf("docs/protocol.md section 6 lists %q, which nfcd never sends", c)
		}
	}
	// Elsewhere, a code is named as `code` in a sentence about codes or
	// errors; it must be one nfcd or the JS client sends.
	client := []string{"timeout", "disconnected", "closed", "token", "protocol"}
	mention := regexp.MustCompile("`([a-z]+(?:_[a-z]+)+)`")
	for _, name := range []string{"docs/js-client.md", "docs/integrate.md", "docs/protocol.md"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "code") && !strings.Contains(line, "error") {
				continue
			}
			for _, m := range mention.FindAllStringSubmatch(line, -1) {
				if strings.HasSuffix(m[1], "_unavailable") || strings.HasSuffix(m[1], "_failed") || strings.HasSuffix(m[1], "_full") {
					if !slices.Contains(codes, m[1]) && !slices.Contains(client, m[1]) {
						t.Errorf("%s:%d names the error code %q, which does not exist", name, i+1, m[1])
					}
				}
			}
		}
	}
}
