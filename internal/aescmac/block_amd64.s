//go:build amd64 && !purego

#include "textflag.h"

// Round constants and the RotWord-broadcast shuffle for the key schedule.
DATA rotMask<>+0(SB)/8, $0x0c0f0e0d0c0f0e0d
DATA rotMask<>+8(SB)/8, $0x0c0f0e0d0c0f0e0d
GLOBL rotMask<>(SB), RODATA|NOPTR, $16
DATA rcon1<>+0(SB)/8, $0x0000000100000001
DATA rcon1<>+8(SB)/8, $0x0000000100000001
GLOBL rcon1<>(SB), RODATA|NOPTR, $16
DATA rcon1b<>+0(SB)/8, $0x0000001b0000001b
DATA rcon1b<>+8(SB)/8, $0x0000001b0000001b
GLOBL rcon1b<>(SB), RODATA|NOPTR, $16

// KEYSTEP derives the next round key in X0, stores it at (BX) and advances
// BX. X5 holds rotMask and X4 the round constant in every word, which it
// then doubles. SubWord(RotWord(w3)) ^ rcon comes from AESENCLAST on w3
// rotated and broadcast to all four words (ShiftRows is then a no-op): a
// shorter dependency chain than AESKEYGENASSIST, whose latency dominates a
// per-tap key schedule.
#define KEYSTEP \
	MOVOU X0, X2 \
	PSHUFB X5, X2 \
	AESENCLAST X4, X2 \
	PSLLL $1, X4 \
	MOVOU X0, X3 \
	PSLLDQ $4, X3 \
	PXOR X3, X0 \
	PSLLDQ $4, X3 \
	PXOR X3, X0 \
	PSLLDQ $4, X3 \
	PXOR X3, X0 \
	PXOR X2, X0 \
	MOVUPS X0, (BX) \
	ADDQ $16, BX

// func expandKey128(key *[16]byte, enc, dec *[11][16]byte)
TEXT ·expandKey128(SB), NOSPLIT, $0-24
	MOVQ key+0(FP), AX
	MOVQ enc+8(FP), BX
	MOVQ dec+16(FP), DX
	MOVUPS (AX), X0
	MOVUPS X0, (BX)
	ADDQ $16, BX
	MOVOU rotMask<>(SB), X5
	MOVOU rcon1<>(SB), X4
	KEYSTEP // rcon 01
	KEYSTEP // 02
	KEYSTEP // 04
	KEYSTEP // 08
	KEYSTEP // 10
	KEYSTEP // 20
	KEYSTEP // 40
	KEYSTEP // 80
	MOVOU rcon1b<>(SB), X4
	KEYSTEP // 1b
	KEYSTEP // 36
	TESTQ DX, DX
	JZ done

	// Decryption schedule: the last round key, AESIMC of rounds 9..1,
	// then the first round key. BX points past round key 10.
	SUBQ $16, BX
	MOVUPS (BX), X1
	MOVUPS X1, (DX)
	MOVQ $9, CX

decLoop:
	MOVUPS -16(BX), X1
	AESIMC X1, X0
	MOVUPS X0, 16(DX)
	SUBQ $16, BX
	ADDQ $16, DX
	DECQ CX
	JNZ decLoop
	MOVUPS -16(BX), X0
	MOVUPS X0, 16(DX)

done:
	RET

// func encrypt128(xk *[11][16]byte, dst, src *[16]byte)
TEXT ·encrypt128(SB), NOSPLIT, $0-24
	MOVQ xk+0(FP), AX
	MOVQ dst+8(FP), DX
	MOVQ src+16(FP), BX
	MOVUPS (BX), X0
	MOVUPS (AX), X1
	PXOR X1, X0
	MOVUPS 16(AX), X1
	AESENC X1, X0
	MOVUPS 32(AX), X1
	AESENC X1, X0
	MOVUPS 48(AX), X1
	AESENC X1, X0
	MOVUPS 64(AX), X1
	AESENC X1, X0
	MOVUPS 80(AX), X1
	AESENC X1, X0
	MOVUPS 96(AX), X1
	AESENC X1, X0
	MOVUPS 112(AX), X1
	AESENC X1, X0
	MOVUPS 128(AX), X1
	AESENC X1, X0
	MOVUPS 144(AX), X1
	AESENC X1, X0
	MOVUPS 160(AX), X1
	AESENCLAST X1, X0
	MOVUPS X0, (DX)
	RET

// func decrypt128(xk *[11][16]byte, dst, src *[16]byte)
TEXT ·decrypt128(SB), NOSPLIT, $0-24
	MOVQ xk+0(FP), AX
	MOVQ dst+8(FP), DX
	MOVQ src+16(FP), BX
	MOVUPS (BX), X0
	MOVUPS (AX), X1
	PXOR X1, X0
	MOVUPS 16(AX), X1
	AESDEC X1, X0
	MOVUPS 32(AX), X1
	AESDEC X1, X0
	MOVUPS 48(AX), X1
	AESDEC X1, X0
	MOVUPS 64(AX), X1
	AESDEC X1, X0
	MOVUPS 80(AX), X1
	AESDEC X1, X0
	MOVUPS 96(AX), X1
	AESDEC X1, X0
	MOVUPS 112(AX), X1
	AESDEC X1, X0
	MOVUPS 128(AX), X1
	AESDEC X1, X0
	MOVUPS 144(AX), X1
	AESDEC X1, X0
	MOVUPS 160(AX), X1
	AESDECLAST X1, X0
	MOVUPS X0, (DX)
	RET
