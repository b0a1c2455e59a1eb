// Package nfcd is the root of the nfcd module: an NFC daemon that reads NXP
// NTAG 424 DNA tags over PC/SC and verifies their SUN messages. The code
// lives under cmd/ and internal/; this package only holds repository-wide
// tests.
package nfcd
