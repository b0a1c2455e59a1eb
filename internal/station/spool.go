package station

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// DefaultSpoolBytes bounds the spool: beyond it a prepared image is
// uploaded without a copy on disk (a restart then needs a new photo).
const DefaultSpoolBytes = 256 << 20

// spoolExt is the extension of a spooled image.
const spoolExt = ".img"

var spoolName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

// spool keeps prepared images until their SR is submitted:
// DIR/<sr uuid>/<side uuid>.img, files 0600 in 0700 directories, each
// written atomically. An empty dir disables it.
type spool struct {
	dir   string
	limit int64

	mu sync.Mutex
}

// put stores an image durably. It fails when the spool is off
// (errSpoolOff), full (errSpoolFull) or cannot be written.
func (s *spool) put(sr, side string, data []byte) error {
	if s.dir == "" {
		return errSpoolOff
	}
	if !spoolName.MatchString(sr) || !spoolName.MatchString(side) {
		return errors.New("station: spool: unsafe name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if used := s.usage(); used+int64(len(data)) > s.limit {
		return errSpoolFull
	}
	return writeFileAtomic(filepath.Join(s.dir, sr, side+spoolExt), data)
}

var (
	errSpoolOff  = errors.New("station: spool: off")
	errSpoolFull = errors.New("station: spool: full")
)

// usage returns the bytes in the spool. s.mu must be held.
func (s *spool) usage() int64 {
	var n int64
	filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// sides returns the spooled images of an SR: side UUID → bytes.
func (s *spool) sides(sr string) map[string][]byte {
	if s.dir == "" || !spoolName.MatchString(sr) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := os.ReadDir(filepath.Join(s.dir, sr))
	if err != nil {
		return nil
	}
	out := map[string][]byte{}
	for _, e := range es {
		side, ok := strings.CutSuffix(e.Name(), spoolExt)
		if !ok || !spoolName.MatchString(side) {
			continue // temporary files of an interrupted write
		}
		if b, err := os.ReadFile(filepath.Join(s.dir, sr, e.Name())); err == nil {
			out[side] = b
		}
	}
	return out
}

// srs lists the SRs with spooled images.
func (s *spool) srs() []string {
	if s.dir == "" {
		return nil
	}
	es, err := os.ReadDir(s.dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range es {
		if e.IsDir() && spoolName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// drop removes an SR's images.
func (s *spool) drop(sr string) error {
	if s.dir == "" || !spoolName.MatchString(sr) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return os.RemoveAll(filepath.Join(s.dir, sr))
}
