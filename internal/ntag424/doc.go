// Package ntag424 talks to NXP NTAG 424 DNA tags and verifies the Secure
// Unique NFC (SUN) messages they mirror into their NDEF URL.
//
// SUN verification follows the NT4H2421Gx data sheet §9.3 (Secure Dynamic
// Messaging), with NXP AN12196 for worked examples and AN12304 for the LRP
// variant. A Profile describes how a batch of tags was personalised (which
// parameters the URL carries, AES or LRP, which keys) and is compiled once;
// Profile.Verify then checks one tapped URL without touching the heap beyond
// the per-tap session key schedule.
//
// The package is pure Go: it never imports the PC/SC layer, so it builds with
// CGO_ENABLED=0 on every OS.
package ntag424
