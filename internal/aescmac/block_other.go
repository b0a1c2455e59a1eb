//go:build !amd64 || purego

package aescmac

// useAESNI is false: this build uses crypto/aes.
const useAESNI = false

func expandKey128(*[16]byte, *[11][16]byte, *[11][16]byte) { panic("aescmac: no AES-NI") }
func encrypt128(*[11][16]byte, *[16]byte, *[16]byte)       { panic("aescmac: no AES-NI") }
func decrypt128(*[11][16]byte, *[16]byte, *[16]byte)       { panic("aescmac: no AES-NI") }
