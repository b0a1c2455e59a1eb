package simulate

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
)

// DemoURL is the base URL of the simulated tags.
const DemoURL = "https://demo.nfcd.invalid/tag"

// DemoDisplayName is what the kiosk page shows as the demo tags' product,
// unless the demo profile file says otherwise (display_name).
const DemoDisplayName = "nfcd demo product"

// NewDemo returns the simulated reader of `nfcd run --simulate` and the
// profile that verifies its tags. The profile lives in the file at path; on
// the first start it is written there (0600) with random demo keys. cfg's
// Layout, Keys and URL are set from it (with cfg.Plain, the layout is the
// plain mirror, same keys); the other fields are taken as given.
func NewDemo(path string, cfg Config) (*Source, profile.Profile, error) {
	specs, err := profile.LoadSpecs(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeDemoProfile(path); err != nil {
			return nil, profile.Profile{}, err
		}
		specs, err = profile.LoadSpecs(path)
	}
	if err != nil {
		return nil, profile.Profile{}, err
	}
	spec := specs[0]
	if cfg.Plain {
		spec.LayoutSpec = ntag424.LayoutSpec{Mode: ntag424.ModePlain.String(), Crypto: "aes"}
	}
	p, err := spec.Compile(false)
	if err != nil {
		return nil, profile.Profile{}, err
	}
	if p.Display.DisplayName == "" {
		p.Display.DisplayName = DemoDisplayName
	}
	if cfg.Layout, cfg.Keys, err = spec.Parts(false); err != nil {
		return nil, profile.Profile{}, err
	}
	cfg.URL = DemoURL
	src, err := New(cfg)
	if err != nil {
		return nil, profile.Profile{}, err
	}
	return src, p, nil
}

func writeDemoProfile(path string) error {
	var keys [2][16]byte
	for i := range keys {
		if _, err := rand.Read(keys[i][:]); err != nil {
			return err
		}
	}
	body := fmt.Sprintf(`# Demo profile of nfcd run --simulate, generated on first start.
# The simulated tags are personalised with these random keys.
[[profile]]
name = "demo"
match = %q
mode = %q
crypto = "aes"
sdm_file_read_key = %q
sdm_meta_read_key = %q
`, DemoURL, ntag424.ModeEnc.String(), hex.EncodeToString(keys[0][:]), hex.EncodeToString(keys[1][:]))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("demo profile: %w", err)
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return fmt.Errorf("demo profile: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("demo profile: %w", err)
	}
	return f.Close()
}
