package provision

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/vtag"
)

// vcard is a Card straight into a virtual tag.
type vcard struct{ c *vtag.Card }

func (v vcard) Transmit(_ context.Context, apdu []byte) ([]byte, error) {
	rsp := v.c.Transmit(apdu)
	if len(rsp) == 0 {
		return nil, ntag424.ErrCardRemoved
	}
	return rsp, nil
}

func seeded(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return mrand.NewChaCha8(s)
}

// Test keys. None is the zero key, and the app master differs from both
// SDM keys.
const (
	testMeta   = "C4F5AB1C48AE5DD8E1B9EBA3F9B1C5C2"
	testFile   = "5ACE7E50AB65D5D51FD5BF5A16B8205B"
	testMaster = "0B1C2D3E4F5061728394A5B6C7D8E9FA"
	testKey4   = "44444444444444444444444444444404"
)

// mode is one personalisation the tests run.
type mode struct {
	name     string
	layout   ntag424.LayoutSpec
	template string
	diverse  bool
	key4     bool
}

// modes covers every profile mode: plain, enc, encfile; AES and LRP;
// fixed and diversified keys.
func modes() []mode {
	var ms []mode
	for _, crypto := range []string{"aes", "lrp"} {
		for _, diverse := range []bool{false, true} {
			keys := "fixed"
			if diverse {
				keys = "diversified"
			}
			ms = append(ms,
				mode{fmt.Sprintf("plain-%s-%s", crypto, keys), ntag424.LayoutSpec{Mode: "plain", Crypto: crypto, MACInputStart: "uid"},
					"https://brand.example/p?uid={uid}&ctr={ctr}&cmac={cmac}", diverse, false},
				mode{fmt.Sprintf("enc-%s-%s", crypto, keys), ntag424.LayoutSpec{Mode: "enc", Crypto: crypto, Names: ntag424.Names{PICCData: "p", CMAC: "c"}},
					"https://brand.example/e?p={picc_data}&c={cmac}", diverse, diverse},
				mode{fmt.Sprintf("encfile-%s-%s", crypto, keys), ntag424.LayoutSpec{Mode: "encfile", Crypto: crypto, MACInputStart: "enc"},
					"https://brand.example/f?x=1&picc_data={picc_data}&enc={enc}&cmac={cmac}", diverse, false},
			)
		}
	}
	return ms
}

func (m mode) spec() profile.Spec {
	s := profile.Spec{Name: m.name, LayoutSpec: m.layout, FileReadKey: testFile, AppMasterKey: testMaster, Diversify: m.diverse}
	if m.layout.Mode != "plain" {
		s.MetaReadKey = testMeta
	}
	if m.diverse {
		s.DivInput = "3042F5"
	}
	if m.key4 {
		s.Key4 = testKey4
	}
	return s
}

func (m mode) target(t testing.TB) *Target {
	t.Helper()
	tg, err := NewTarget(m.spec(), m.template, nil)
	if err != nil {
		t.Fatalf("NewTarget(%s) = %v", m.name, err)
	}
	return tg
}

func blank(t testing.TB, uid byte, seed uint64) *vtag.Card {
	t.Helper()
	c, err := vtag.New(vtag.Config{Blank: true, UID: [7]byte{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, uid}, Rand: seeded(seed)})
	if err != nil {
		t.Fatal(err)
	}
	c.Presentation()
	return c
}

// taps reads the tag n times as a phone does and requires every SUN to
// verify under the target with consecutive counters.
func taps(t *testing.T, c *vtag.Card, tg *Target, n int) {
	t.Helper()
	ctx := context.Background()
	uid := c.UID()
	var last uint32
	for i := 0; i < n; i++ {
		c.Presentation()
		r, err := ntag424.ReadTag(ctx, vcard{c}, ntag424.ReadOptions{})
		if err != nil {
			t.Fatalf("tap %d: ReadTag = %v", i+1, err)
		}
		res, err := tg.Verifier().Verify(r.URL)
		if err != nil || res.UID != uid || (i > 0 && res.Ctr.Value != last+1) {
			t.Fatalf("tap %d: Verify(%s) = %+v, %v (last counter %d)", i+1, r.URL, res, err, last)
		}
		last = res.Ctr.Value
	}
}

// TestProvisionEveryMode personalises a blank virtual tag for each mode,
// taps it 20 times, resets it to the factory state and personalises it
// again.
func TestProvisionEveryMode(t *testing.T) {
	ctx := context.Background()
	for i, m := range modes() {
		t.Run(m.name, func(t *testing.T) {
			tg := m.target(t)
			c := blank(t, byte(i), uint64(i))
			j := MemJournal{}
			var events []StepEvent
			opts := Options{Journal: j, Rand: seeded(100 + uint64(i)), EnableLRP: true, Progress: func(e StepEvent) { events = append(events, e) }}
			res, err := Provision(ctx, vcard{c}, tg, opts)
			if err != nil || !res.OK {
				t.Fatalf("Provision = %+v, %v\nevents %+v", res, err, events)
			}
			taps(t, c, tg, 20)
			st := c.State()
			uid := c.UID()
			tk, _ := tg.keysFor(uid[:])
			if st.Keys[0] != tk.key[0] || st.KeyVersions[0] != DefaultKeyVersion || st.LRP != (m.layout.Crypto == "lrp") {
				t.Errorf("key 0 / versions / LRP after provision: %v %v", st.KeyVersions, st.LRP)
			}
			if m.key4 && st.Keys[4] != tk.key[4] {
				t.Error("key 4 not set")
			}
			if m.diverse && (st.Keys[2] == ntag424.Key(mustHex(testFile)) || st.Keys[0] == ntag424.Key(mustHex(testMaster))) {
				t.Error("diversified profile wrote master keys")
			}
			if rec := j[res.UID]; rec.State != StateDone || rec.Op != OpProvision {
				t.Errorf("journal = %+v", rec)
			}

			res, err = Reset(ctx, vcard{c}, tg, Options{Journal: j, Rand: seeded(7)})
			if err != nil || !res.OK {
				t.Fatalf("Reset = %+v, %v", res, err)
			}
			st = c.State()
			if st.Keys != ([5]ntag424.Key{}) || st.KeyVersions != ([5]byte{}) {
				t.Errorf("keys after reset: versions %v", st.KeyVersions)
			}
			if want := *ntag424.FactoryFileSettings(ntag424.FileNDEF); !reflect.DeepEqual(st.Settings[1], want) || !bytes.Equal(st.Files[1], make([]byte, 256)) {
				t.Errorf("NDEF file after reset: %+v", st.Settings[1])
			}

			res, err = Provision(ctx, vcard{c}, tg, opts)
			if err != nil || !res.OK {
				t.Fatalf("Provision again = %+v, %v", res, err)
			}
			taps(t, c, tg, 3)
		})
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestWrongKey0 changes nothing on a tag that refuses key 0: a blank tag
// given a wrong --key0, and a tag personalised for another profile.
func TestWrongKey0(t *testing.T) {
	ctx := context.Background()
	ms := modes()
	tg := ms[1].target(t)
	c := blank(t, 1, 1)
	before := c.State()
	wrong := ntag424.Key{0xBA, 0xD0}
	res, err := Provision(ctx, vcard{c}, tg, Options{Key0: &wrong, Rand: seeded(1)})
	if !errors.Is(err, ErrWrongKey0) || res.OK || res.Stopped != stepAuth {
		t.Fatalf("Provision(wrong key 0) = %+v, %v; want ErrWrongKey0 at authenticate", res, err)
	}
	if after := c.State(); !reflect.DeepEqual(before, after) {
		t.Error("a refused key 0 changed the tag")
	}

	// Personalised for profile A; provisioning for B must stop.
	if _, err := Provision(ctx, vcard{c}, tg, Options{Rand: seeded(2)}); err != nil {
		t.Fatal(err)
	}
	other := ms[4].target(t) // enc, diversified: another key 0
	before = c.State()
	_, err = Provision(ctx, vcard{c}, other, Options{Rand: seeded(3)})
	if !errors.Is(err, ErrWrongKey0) {
		t.Fatalf("Provision(other profile) = %v, want ErrWrongKey0", err)
	}
	before.Counter = c.State().Counter // the check reads the SUN once
	if after := c.State(); !reflect.DeepEqual(before, after) {
		t.Error("provisioning for another profile changed the tag")
	}
	// Resetting with the wrong profile is refused as well.
	if _, err := Reset(ctx, vcard{c}, other, Options{Rand: seeded(4)}); !errors.Is(err, ErrWrongKey0) {
		t.Errorf("Reset(other profile) = %v, want ErrWrongKey0", err)
	}
	if after := c.State(); !reflect.DeepEqual(before.Keys, after.Keys) {
		t.Error("a refused reset changed keys")
	}
}

// TestLRPNeedsConsent: an LRP profile on an AES tag stops before any change
// unless the one-way switch is allowed; an AES profile on an LRP tag stops.
func TestLRPNeedsConsent(t *testing.T) {
	ctx := context.Background()
	var lrpMode, aesMode mode
	for _, m := range modes() {
		switch m.name {
		case "enc-lrp-fixed":
			lrpMode = m
		case "enc-aes-fixed":
			aesMode = m
		}
	}
	c := blank(t, 2, 2)
	before := c.State()
	if _, err := Provision(ctx, vcard{c}, lrpMode.target(t), Options{Rand: seeded(1)}); !errors.Is(err, ErrLRPRefused) {
		t.Fatalf("Provision(LRP, no consent) = %v, want ErrLRPRefused", err)
	}
	if !reflect.DeepEqual(before, c.State()) {
		t.Error("a refused LRP switch changed the tag")
	}
	if _, err := Provision(ctx, vcard{c}, lrpMode.target(t), Options{Rand: seeded(1), EnableLRP: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := Reset(ctx, vcard{c}, lrpMode.target(t), Options{Rand: seeded(3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Provision(ctx, vcard{c}, aesMode.target(t), Options{Rand: seeded(2)}); !errors.Is(err, ErrTagLRP) {
		t.Errorf("Provision(AES profile, LRP tag) = %v, want ErrTagLRP", err)
	}
}

// countAPDUs runs a full provisioning of a blank tag and returns how many
// APDUs it sent.
func countAPDUs(t *testing.T, m mode) int {
	c := blank(t, 9, 9)
	res, err := Provision(context.Background(), vcard{c}, m.target(t), Options{Rand: seeded(9), EnableLRP: true})
	if err != nil {
		t.Fatal(err)
	}
	return res.APDUs
}

// TestPullAnywhere pulls the tag at every APDU of a provisioning and of a
// reset, once before the tag acts on it and once after (the answer lost):
// the next run with the same journal finishes, the tag verifies, and no
// run ever stops with anything but the removal.
func TestPullAnywhere(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"enc-aes-diversified", "encfile-lrp-fixed", "plain-aes-fixed"} {
		var m mode
		for _, x := range modes() {
			if x.name == name {
				m = x
			}
		}
		n := countAPDUs(t, m)
		t.Run(name, func(t *testing.T) {
			for k := 1; k <= n; k++ {
				for _, exec := range []bool{false, true} {
					tg := m.target(t)
					c := blank(t, byte(k), uint64(k))
					j := MemJournal{}
					opts := Options{Journal: j, Rand: seeded(uint64(k)), EnableLRP: true}
					c.Pull(k, exec)
					res, err := Provision(ctx, vcard{c}, tg, opts)
					if !errors.Is(err, ErrRemoved) {
						t.Fatalf("pull at APDU %d (executed %v): Provision = %+v, %v; want ErrRemoved", k, exec, res, err)
					}
					c.Presentation()
					res, err = Provision(ctx, vcard{c}, tg, opts)
					if err != nil || !res.OK {
						t.Fatalf("pull at APDU %d (executed %v, stopped at %s): re-run = %+v, %v", k, exec, res.Stopped, res, err)
					}
					taps(t, c, tg, 2)
					if k%3 == 0 { // and a reset pulled likewise
						c.Presentation()
						c.Pull(k, exec)
						if _, err := Reset(ctx, vcard{c}, tg, opts); err != nil && !errors.Is(err, ErrRemoved) {
							t.Fatalf("pull at APDU %d of reset: %v", k, err)
						}
						c.Presentation()
						c.Pull(0, false)
						if res, err := Reset(ctx, vcard{c}, tg, opts); err != nil || !res.OK {
							t.Fatalf("reset re-run after pull at %d: %+v, %v", k, res, err)
						}
						if st := c.State(); st.Keys != ([5]ntag424.Key{}) {
							t.Fatalf("keys not factory after reset re-run (pull at %d)", k)
						}
					}
				}
			}
		})
	}
}

// swapper is a Reconnector: after the first tag leaves, the second one
// answers.
type swapper struct {
	cur, next *vtag.Card
}

func (s *swapper) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	return vcard{s.cur}.Transmit(ctx, apdu)
}

func (s *swapper) Reconnect(context.Context) error {
	s.cur = s.next
	s.cur.Presentation()
	return nil
}

// TestSwap: a second tag put down mid-sequence is detected before anything
// is written to it, and the first tag finishes later.
func TestSwap(t *testing.T) {
	ctx := context.Background()
	m := modes()[1]
	tg := m.target(t)
	n := countAPDUs(t, m)
	// From the first authentication on, the run knows the UID; a swap
	// before it just personalises the tag that is there.
	for _, k := range []int{6, 9, n / 2, n - 4} {
		a, b := blank(t, 1, 1), blank(t, 2, 2)
		bBefore := b.State()
		a.Pull(k, true)
		j := MemJournal{}
		_, err := Provision(ctx, &swapper{cur: a, next: b}, tg, Options{Journal: j, Rand: seeded(5)})
		if !errors.Is(err, ErrUIDChanged) {
			t.Fatalf("swap at APDU %d: %v, want ErrUIDChanged", k, err)
		}
		if bAfter := b.State(); !reflect.DeepEqual(bBefore.Keys, bAfter.Keys) || !reflect.DeepEqual(bBefore.Settings, bAfter.Settings) || !reflect.DeepEqual(bBefore.Files, bAfter.Files) {
			t.Errorf("swap at APDU %d: the second tag was changed", k)
		}
		a.Presentation()
		if res, err := Provision(ctx, vcard{a}, tg, Options{Journal: j, Rand: seeded(6)}); err != nil || !res.OK {
			t.Fatalf("swap at APDU %d: first tag re-run = %+v, %v", k, res, err)
		}
	}
	// With the same tag coming back, one run finishes.
	a := blank(t, 3, 3)
	a.Pull(n/2, true)
	res, err := Provision(ctx, &swapper{cur: a, next: a}, tg, Options{Rand: seeded(7)})
	if err != nil || !res.OK {
		t.Fatalf("same tag back: %+v, %v", res, err)
	}
}

// TestAlreadyPersonalised: with the journal lost, a tag that shows this
// profile's SUN is recognised and its key 0 tried; the run checks every
// step and succeeds without the factory key.
func TestAlreadyPersonalised(t *testing.T) {
	ctx := context.Background()
	m := modes()[2]
	tg := m.target(t)
	c := blank(t, 4, 4)
	if _, err := Provision(ctx, vcard{c}, tg, Options{Rand: seeded(1)}); err != nil {
		t.Fatal(err)
	}
	failed := c.FailedAuths()
	res, err := Provision(ctx, vcard{c}, tg, Options{Rand: seeded(2), Journal: MemJournal{}})
	if err != nil || !res.OK {
		t.Fatalf("second provision = %+v, %v", res, err)
	}
	if c.FailedAuths() != failed {
		t.Errorf("the second run had %d failed authentications", c.FailedAuths()-failed)
	}
}

// TestPlanHasNoKeys: the dry-run plan and the sample URL carry no key
// bytes, and the sample URL verifies.
func TestPlanHasNoKeys(t *testing.T) {
	for _, m := range modes() {
		tg := m.target(t)
		b, err := json.Marshal(tg.Plan())
		if err != nil {
			t.Fatal(err)
		}
		tk, _ := tg.keysFor(make([]byte, 7))
		secrets := []string{testMeta, testFile, testMaster, testKey4}
		for _, k := range tk.key {
			secrets = append(secrets, strings.ToUpper(hex.EncodeToString(k[:])))
		}
		for _, s := range secrets {
			if s != strings.Repeat("0", 32) && strings.Contains(strings.ToUpper(string(b)), s) {
				t.Errorf("%s: the plan shows key bytes %s", m.name, s)
			}
		}
		uid := [7]byte{4, 1, 2, 3, 4, 5, 6}
		url, err := tg.SampleURL(uid, 1)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := tg.Verifier().Verify(url); err != nil || res.UID != uid {
			t.Errorf("%s: sample URL %s: %+v, %v", m.name, url, res, err)
		}
	}
}

// TestInspect reports a blank tag, then the personalised one with the
// profile that verifies it and its key 0 proven.
func TestInspect(t *testing.T) {
	ctx := context.Background()
	m := modes()[1]
	tg := m.target(t)
	c := blank(t, 5, 5)
	rep, err := Inspect(ctx, vcard{c}, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Summary, "blank") || rep.UID != "04102030405005" || rep.Files[1].Settings.SDM != nil {
		t.Errorf("blank report = %+v", rep)
	}
	if _, err := Provision(ctx, vcard{c}, tg, Options{Rand: seeded(1)}); err != nil {
		t.Fatal(err)
	}
	set := profile.Set{{Name: tg.Name, Match: "https://brand.example/", Profile: tg.Verifier()}}
	rep, err = Inspect(ctx, vcard{c}, InspectOptions{Profiles: set, Targets: map[string]*Target{tg.Name: tg}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SUN == nil || !rep.SUN.Verified || rep.Key0 != "profile "+tg.Name+"'s accepted" || rep.KeyVersions != [5]int{1, 1, 1, 0, 0} || rep.Files[1].Settings.SDM == nil {
		t.Errorf("personalised report = %+v (SUN %+v)", rep, rep.SUN)
	}
	b, _ := json.Marshal(rep)
	if bytes.Contains(bytes.ToUpper(b), []byte(testMaster)) {
		t.Error("the report shows key bytes")
	}
}

// BenchmarkProvision personalises a blank virtual tag in-process (no
// PC/SC): the host-side cost of a whole run, crypto and journal included.
func BenchmarkProvision(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"enc-aes-diversified", "enc-lrp-diversified"} {
		var m mode
		for _, x := range modes() {
			if x.name == name {
				m = x
			}
		}
		b.Run(name, func(b *testing.B) {
			tg := m.target(b)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c := blank(b, 1, uint64(i))
				if res, err := Provision(ctx, vcard{c}, tg, Options{Rand: seeded(uint64(i)), EnableLRP: true}); err != nil || !res.OK {
					b.Fatal(err)
				}
			}
		})
	}
}
