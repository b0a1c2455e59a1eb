package config

import _ "embed"

//go:embed example.toml
var example []byte

// Example returns the commented configuration file that `nfcd config
// example` prints and the .deb installs as /etc/nfcd/nfcd.toml: every key
// with its default, commented out, so that it loads as the defaults.
func Example() []byte { return append([]byte(nil), example...) }
