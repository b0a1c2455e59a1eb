//go:build amd64 && !purego

package aescmac

import "golang.org/x/sys/cpu"

// useAESNI reports whether the AES-NI assembly is used.
var useAESNI = cpu.X86.HasAES

// expandKey128 writes the AES-128 encryption round keys of key to enc and,
// when dec is not nil, the decryption round keys (Intel AES-NI white paper,
// "AES-128 key expansion" and "the Equivalent Inverse Cipher").
//
//go:noescape
func expandKey128(key *[16]byte, enc, dec *[11][16]byte)

// encrypt128 encrypts one block with the round keys xk.
//
//go:noescape
func encrypt128(xk *[11][16]byte, dst, src *[16]byte)

// decrypt128 decrypts one block with the decryption round keys xk.
//
//go:noescape
func decrypt128(xk *[11][16]byte, dst, src *[16]byte)
