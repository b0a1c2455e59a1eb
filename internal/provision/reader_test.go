package provision

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestWaitCardNoTag: no tag within Wait is ErrNoTag with what to do, not
// a bare context error; an interrupted wait says it was stopped.
func TestWaitCardNoTag(t *testing.T) {
	r := NewReader(nil, "")
	r.Wait = 20 * time.Millisecond
	err := r.WaitCard(context.Background())
	if !errors.Is(err, ErrNoTag) || !strings.Contains(err.Error(), "--wait") || strings.Contains(err.Error(), "deadline") {
		t.Errorf("WaitCard without a tag = %v, want ErrNoTag naming --wait", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Wait = time.Minute
	if err := r.WaitCard(ctx); errors.Is(err, ErrNoTag) || !errors.Is(err, context.Canceled) {
		t.Errorf("WaitCard interrupted = %v, want context.Canceled", err)
	}
}
