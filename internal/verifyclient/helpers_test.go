package verifyclient_test

import (
	"fmt"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func observerCore() (zapcore.Core, *observer.ObservedLogs) {
	return observer.New(zapcore.DebugLevel)
}

// stringify renders any field the way an encoder would see it.
func stringify(f zapcore.Field) string {
	enc := zapcore.NewMapObjectEncoder()
	f.AddTo(enc)
	return fmt.Sprint(enc.Fields)
}
