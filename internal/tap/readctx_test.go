package tap

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

func TestReadCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	rc := newReadCtx(parent, 30*time.Millisecond)
	defer rc.stop()
	cancel()
	if err := rc.Err(); err != nil {
		t.Fatalf("Err before the deadline, parent cancelled: %v", err)
	}
	if rc.Value(ctxKey{}) != "v" {
		t.Fatal("parent's value lost")
	}
	if d, ok := rc.Deadline(); !ok || time.Until(d) > 30*time.Millisecond {
		t.Fatalf("Deadline = %v, %v", d, ok)
	}
	select {
	case <-rc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the deadline")
	}
	if err := rc.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err after the deadline = %v", err)
	}
}

func TestReadCtxStopWithoutDone(t *testing.T) {
	rc := newReadCtx(context.Background(), time.Hour)
	rc.stop()
	rc.stop()
	if rc.Err() != nil {
		t.Fatal("Err before the deadline")
	}
}
