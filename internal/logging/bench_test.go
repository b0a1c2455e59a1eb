package logging

import (
	"io"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// What redaction costs on a tap's log line, against the same line through
// a bare zap core.
func BenchmarkTapEntry(b *testing.B) {
	fields := []zap.Field{
		zap.String("reader", "ACS ACR1252U PICC Interface"),
		zap.String("uid", tagUID),
		zap.String("url", sampleURL),
		zap.String("verdict", "authentic"),
		zap.Int("latency_ms", 41),
	}
	bare := zap.New(zapcore.NewCore(jsonEncoder(), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	redacted := zap.New(NewRedactingCore(NewRedactor(false), zapcore.NewCore(jsonEncoder(), zapcore.AddSync(io.Discard), zapcore.InfoLevel)))
	for name, log := range map[string]*zap.Logger{"bare": bare, "redacted": redacted} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				log.Info("tag read", fields...)
			}
		})
	}
}
