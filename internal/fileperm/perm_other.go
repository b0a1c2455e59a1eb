//go:build !unix && !windows

package fileperm

// CheckPrivate accepts everything where no permission model is known.
func CheckPrivate(string) error { return nil }

// Restrict does nothing where no permission model is known.
func Restrict(string) error { return nil }

// ReadableByOthers reports false where no permission model is known.
func ReadableByOthers(string) (readable, writable bool, err error) { return false, false, nil }
