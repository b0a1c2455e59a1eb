package nfcd_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/nfcd/nfcd/"

// allowed lists, for every package of the module, the module packages it
// may import directly: the import rules of docs/architecture.md. A package
// that is not listed fails the test, so a new package states its place.
// "*" allows any.
var allowed = map[string][]string{
	// Leaves: the vocabulary and the pure building blocks.
	"internal/aescmac":     {},
	"internal/event":       {},
	"internal/ndef":        {},
	"internal/tomlfile":    {},
	"internal/secret":      {},
	"internal/fileperm":    {},
	"internal/atomicfile":  {},
	"internal/tlscert":     {"internal/atomicfile"},
	"internal/token":       {"internal/filewatch"},
	"internal/vpcd":        {},
	"internal/ws":          {},
	"internal/filewatch":   {},
	"internal/testvectors": {},
	"internal/lrp":         {"internal/aescmac"},
	"internal/diversify":   {"internal/aescmac"},
	"internal/reader":      {"internal/event"},
	// The tag: knows no transport.
	"internal/ntag424": {"internal/aescmac", "internal/diversify", "internal/lrp", "internal/ndef"},
	"internal/verdict": {"internal/ntag424"},
	"internal/profile": {"internal/ntag424", "internal/tomlfile", "internal/verdict"},
	"internal/batch":   {"internal/ntag424", "internal/profile", "internal/verdict"},
	"internal/config":  {"internal/fileperm", "internal/fleet", "internal/legitmark", "internal/logging", "internal/ntag424", "internal/profile", "internal/remote", "internal/tomlfile"},
	// Readers: PC/SC, the virtual tag, the simulated reader.
	"internal/pcsc":          {"internal/event", "internal/reader"},
	"internal/pcsc/pcsctest": {"internal/pcsc"},
	"internal/vpcd/vpcdtest": {"internal/vpcd"},
	"internal/vtag":          {"internal/diversify", "internal/lrp", "internal/ndef", "internal/ntag424", "internal/vpcd"},
	"internal/simulate":      {"internal/event", "internal/ntag424", "internal/profile", "internal/reader", "internal/vtag"},
	// The tap path: tap knows no PC/SC, the verdict stage no WebSocket and
	// no database.
	"internal/tap":   {"internal/event", "internal/ntag424", "internal/profile", "internal/reader"},
	"internal/judge": {"internal/event", "internal/ntag424", "internal/reader", "internal/tap", "internal/verdict"},
	// Personalisation: the sequence, its journal, and a Card on a PC/SC
	// reader (the one place it knows pcsc).
	"internal/provision": {"internal/diversify", "internal/event", "internal/ntag424", "internal/pcsc", "internal/profile", "internal/reader"},
	// Durable state and what answers questions about it.
	"internal/store":    {"internal/atomicfile", "internal/legitmark", "internal/ntag424", "internal/verdict"},
	"internal/statedir": {"internal/fileperm", "internal/store", "internal/verdict"},
	"internal/history":  {"internal/ntag424", "internal/store", "internal/ws"},
	// Remote verification (Legitimate): the client knows no tag code, the
	// fake knows the tag's MAC, the verdict-stage logic takes plain values.
	"internal/verifyclient":                {"internal/secret", "internal/tomlfile"},
	"internal/verifyclient/legitimatetest": {"internal/ntag424", "internal/profile", "internal/tomlfile", "internal/verifyclient"},
	"internal/remote":                      {"internal/tomlfile", "internal/verdict", "internal/verifyclient"},
	// The remote verifier slot of the verdict stage: the outbox in the
	// store, the client, the table, and its requests.
	"internal/remoteverify": {"internal/judge", "internal/ntag424", "internal/remote", "internal/store", "internal/verdict", "internal/verifyclient", "internal/ws"},
	// The fleet: counters and audit shared by the kiosks on PostgreSQL; it
	// knows the verdict vocabulary, not the store that backs its queues.
	"internal/fleet":           {"internal/ntag424", "internal/verdict"},
	"internal/fleet/fleettest": {"internal/fleet"},
	// The fleet in the verdict stage: the check in the ledger step, the
	// queues in the store, late verdicts through the stage's fleet slot.
	"internal/fleetstage": {"internal/fleet", "internal/judge", "internal/ntag424", "internal/store", "internal/verdict"},
	// Authentication station (Legitmark): the client and its fake.
	"internal/legitmark":               {"internal/secret"},
	"internal/legitmark/legitmarktest": {"internal/legitmark"},
	"internal/station":                 {"internal/legitmark", "internal/secret", "internal/ws"},
	// Operations: logs, metrics, health, the environment check, the
	// service definition and packaging.
	"internal/admin":             {},
	"internal/buildinfo":         {},
	"internal/logging":           {},
	"internal/metrics":           {},
	"internal/health":            {},
	"internal/servicedef":        {},
	"internal/doctor":            {"internal/config", "internal/health"},
	"internal/doctor/doctortest": {"internal/doctor"},
	"internal/dist":              {"internal/config", "internal/servicedef"},
	"tools/mkdeb":                {"internal/dist"},
	"tools/benchtap":             {"internal/ntag424", "internal/vpcd", "internal/vpcd/vpcdtest", "internal/vtag"},
	// Wiring.
	"internal/daemon": {"*"},
	"cmd/nfcd":        {"*"},
	"web":             {},
}

// forbidden are dependencies, direct or not, that a package must not have:
// the tag and verification code builds without cgo on every OS, and the
// tap path's stages know neither the sockets nor the database.
var forbidden = map[string][]string{
	"internal/ntag424":      {"github.com/ebfe/scard", "runtime/cgo"},
	"internal/ndef":         {"github.com/ebfe/scard", "runtime/cgo"},
	"internal/aescmac":      {"github.com/ebfe/scard", "runtime/cgo"},
	"internal/lrp":          {"github.com/ebfe/scard", "runtime/cgo"},
	"internal/batch":        {"github.com/ebfe/scard", "runtime/cgo"},
	"internal/profile":      {"github.com/ebfe/scard", "runtime/cgo"},
	"internal/tap":          {"github.com/ebfe/scard", "runtime/cgo", "github.com/gorilla/websocket", "go.etcd.io/bbolt", "github.com/prometheus/client_golang", "github.com/jackc/pgx"},
	"internal/judge":        {"github.com/ebfe/scard", "runtime/cgo", "github.com/gorilla/websocket", "go.etcd.io/bbolt", "github.com/jackc/pgx"},
	"internal/verdict":      {"github.com/ebfe/scard", "runtime/cgo"},
	"internal/verifyclient": {"github.com/ebfe/scard", "runtime/cgo", "github.com/nfcd/nfcd/internal/daemon"},
	"internal/remote":       {"github.com/ebfe/scard", "runtime/cgo", "github.com/nfcd/nfcd/internal/daemon"},
	"internal/remoteverify": {"github.com/ebfe/scard", "runtime/cgo", "github.com/nfcd/nfcd/internal/daemon"},
	"internal/fleet":        {"github.com/ebfe/scard", "runtime/cgo", "github.com/gorilla/websocket", "go.etcd.io/bbolt"},
	"internal/store":        {"github.com/jackc/pgx"},
	// The environment check builds without cgo, so it can explain a
	// machine where PC/SC does not work.
	"internal/doctor": {"github.com/ebfe/scard", "runtime/cgo"},
}

// notImported are packages a package must not import itself: the command
// line holds flags and wiring, not storage, sockets or PC/SC calls.
var notImported = map[string][]string{
	"cmd/nfcd": {"go.etcd.io/bbolt", "github.com/gorilla/websocket", "github.com/ebfe/scard"},
}

type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// TestDependencies keeps the dependency arrows pointing the way
// docs/architecture.md draws them (../shared/STYLE.md §1).
func TestDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		if name == strings.TrimSuffix(module, "/") {
			continue // the root package: this test and the module doc
		}
		seen++
		allow, ok := allowed[name]
		if !ok {
			t.Errorf("%s is not in the import rules of deps_test.go (and docs/architecture.md)", name)
			continue
		}
		for _, imp := range p.Imports {
			for _, bad := range notImported[name] {
				if imp == bad || strings.HasPrefix(imp, bad+"/") {
					t.Errorf("%s imports %s itself", name, imp)
				}
			}
			dep, ours := strings.CutPrefix(imp, module)
			if !ours || slices.Contains(allow, "*") {
				continue
			}
			if !slices.Contains(allow, dep) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow", name, dep)
			}
		}
		for _, d := range p.Deps {
			for _, bad := range forbidden[name] {
				if d == bad || strings.HasPrefix(d, bad+"/") {
					t.Errorf("%s depends on %s", name, d)
				}
			}
		}
	}
	if seen < len(allowed) {
		t.Errorf("go list saw %d packages, the rules name %d: remove the rules of packages that are gone", seen, len(allowed))
	}
}
