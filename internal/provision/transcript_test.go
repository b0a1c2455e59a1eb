package provision

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/pcsc/pcsctest"
)

var updateGolden = flag.Bool("update-provision", false, "rewrite the golden provisioning transcript from the virtual tag")

// goldenPath is the full provisioning session: a blank tag personalised
// for an enc/AES profile with diversified keys and key 4.
const goldenPath = "../../testdata/apdu/vtag-provision-enc-aes.txt"

// recorder is a Card that writes every exchange in transcript syntax.
type recorder struct {
	c   Card
	out *strings.Builder
}

func (r *recorder) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	rsp, err := r.c.Transmit(ctx, apdu)
	fmt.Fprintf(r.out, "> %X\n", apdu)
	if err != nil {
		fmt.Fprintf(r.out, "< !removed\n")
		return nil, err
	}
	fmt.Fprintf(r.out, "< %X\n", rsp)
	return rsp, nil
}

// goldenMode is the profile of the golden session.
func goldenMode() mode {
	for _, m := range modes() {
		if m.name == "enc-aes-diversified" {
			return m
		}
	}
	panic("mode missing")
}

// TestGoldenTranscript replays the golden provisioning session through
// Provision: the same profile and RndA must produce byte for byte the
// commands a blank tag answered, ending in a verified read. Key bytes
// appear in it only as the tag sees them: encrypted under the session.
// With -update-provision the transcript is recorded afresh from the virtual tag.
func TestGoldenTranscript(t *testing.T) {
	ctx := context.Background()
	m := goldenMode()
	tg := m.target(t)
	if *updateGolden {
		var b strings.Builder
		fmt.Fprintf(&b, "# Synthesized, not recorded on hardware: nfcd tag provision of a blank virtual\n")
		fmt.Fprintf(&b, "# NTAG 424 DNA (internal/vtag, UID 04102030405001) for the profile %q:\n", m.name)
		fmt.Fprintf(&b, "# mode enc, AES, keys diversified with AN10922, key 4 set, template\n# %s\n", m.template)
		fmt.Fprintf(&b, "# Steps: select + GetVersion; select + READ BINARY (does the tag show this profile's SUN\n")
		fmt.Fprintf(&b, "# already? a blank one does not); AuthenticateEV2First key 0 + GetCardUID; GetFileSettings,\n")
		fmt.Fprintf(&b, "# WriteData (plain), ChangeFileSettings (FULL), per key 2, 1, 4: GetKeyVersion, NonFirst\n")
		fmt.Fprintf(&b, "# with the old key, NonFirst key 0, ChangeKey (FULL), NonFirst with the new key; ChangeKey 0,\n")
		fmt.Fprintf(&b, "# AuthenticateEV2First with the new key 0 + GetCardUID; select + READ BINARY: the SUN verifies.\n")
		fmt.Fprintf(&b, "# Regenerate: go test ./internal/provision -run TestGoldenTranscript -update-provision\n\n")
		c := blank(t, 1, 1)
		if _, err := Provision(ctx, &recorder{c: vcard{c}, out: &b}, tg, Options{Rand: seeded(42)}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.FromSlash(goldenPath), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	card := pcsctest.Load(t, filepath.FromSlash(goldenPath))
	res, err := Provision(ctx, card, tg, Options{Rand: seeded(42)})
	if err != nil || !res.OK {
		t.Fatalf("replaying %s: %+v, %v", goldenPath, res, err)
	}
	if err := card.Done(); err != nil {
		t.Fatal(err)
	}
	if res.UID != "04102030405001" || res.APDUs != 48 {
		t.Errorf("replay: UID %s, %d APDUs", res.UID, res.APDUs)
	}
	// No key of the profile or of the tag appears in the clear.
	b, err := os.ReadFile(filepath.FromSlash(goldenPath))
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := tg.keysFor(mustHex(res.UID))
	for _, k := range append(tk.key[:], ntag424.Key(mustHex(testMaster)), ntag424.Key(mustHex(testFile)), ntag424.Key(mustHex(testMeta))) {
		if s := fmt.Sprintf("%X", k[:]); k != (ntag424.Key{}) && strings.Contains(string(b), s) {
			t.Errorf("the transcript shows key bytes %s", s)
		}
	}

}
