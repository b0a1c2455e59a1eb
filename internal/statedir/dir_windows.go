package statedir

import (
	"fmt"
	"path/filepath"
)

// defaultDir ignores euid: on Windows nfcd runs as a LocalSystem service and
// the CLI as an administrator, and both use %ProgramData%.
func defaultDir(getenv func(string) string, _ int, _ func() (string, error)) (string, error) {
	dir := getenv("ProgramData")
	if dir == "" || !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%w: %%ProgramData%% is not set", ErrNoStateDir)
	}
	return filepath.Join(dir, "nfcd"), nil
}
