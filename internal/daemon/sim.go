package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/simulate"
)

// DemoURL is the base URL of the simulated tags.
const DemoURL = "https://demo.nfcd.invalid/tag"

// simSource is the simulated reader with its demo profile.
type simSource struct {
	src     *simulate.Source
	profile profile.Profile
}

// newSimSource loads the demo profile from path, generating random demo
// keys on first start (0600), and builds the simulated reader.
func newSimSource(path string, interval time.Duration) (*simSource, error) {
	specs, err := profile.LoadSpecs(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeDemoProfile(path); err != nil {
			return nil, err
		}
		specs, err = profile.LoadSpecs(path)
	}
	if err != nil {
		return nil, err
	}
	spec := specs[0]
	p, err := spec.Compile(false)
	if err != nil {
		return nil, err
	}
	l, k, err := spec.Parts(false)
	if err != nil {
		return nil, err
	}
	src, err := simulate.New(simulate.Config{Layout: l, Keys: k, URL: DemoURL, Interval: interval, Rand: rand.Reader})
	if err != nil {
		return nil, err
	}
	return &simSource{src: src, profile: p}, nil
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
