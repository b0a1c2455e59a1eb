package fleettest

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestQueue(t *testing.T) {
	ctx := context.Background()
	q := NewQueue[string]()
	if st, _ := q.Stats(ctx); st.Len != 0 || !st.Oldest.IsZero() {
		t.Errorf("empty Stats = %+v", st)
	}
	q.Push(ctx, "a", "b")
	q.Push(ctx, "c")
	items, _ := q.Peek(ctx, 2)
	if len(items) != 2 || items[0].Item != "a" || items[1].Item != "b" || items[0].ID >= items[1].ID {
		t.Errorf("Peek(2) = %+v", items)
	}
	q.FailRemove(1)
	if err := q.Remove(ctx, items[1].ID); !errors.Is(err, ErrInjected) {
		t.Errorf("Remove with an injected failure = %v", err)
	}
	if err := q.Remove(ctx, items[1].ID); err != nil {
		t.Fatal(err)
	}
	if got := q.Items(); len(got) != 1 || got[0] != "c" {
		t.Errorf("after Remove: %v", got)
	}
	q.FailPush(1)
	if err := q.Push(ctx, "d"); !errors.Is(err, ErrInjected) {
		t.Errorf("Push with an injected failure = %v", err)
	}
	q.Push(ctx, "e")
	items, _ = q.Peek(ctx, 10)
	if len(items) != 2 || items[1].Item != "e" || items[1].ID != items[0].ID+1 {
		t.Errorf("IDs after a failed push: %+v", items)
	}
	if st, _ := q.Stats(ctx); st.Len != 2 || st.Oldest.IsZero() {
		t.Errorf("Stats = %+v", st)
	}
}

// TestProxy: bytes flow, are held while paused and arrive after Resume;
// Cut closes the connection.
func TestProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := NewProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo := func(msg string, within time.Duration) error {
		c.SetDeadline(time.Now().Add(within))
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		if err == nil && string(buf) != msg {
			t.Errorf("echo %q, want %q", buf, msg)
		}
		return err
	}
	if err := echo("one", 5*time.Second); err != nil {
		t.Fatalf("echo through the proxy: %v", err)
	}
	p.Pause()
	if err := echo("two", 200*time.Millisecond); err == nil {
		t.Fatal("echo while paused got through")
	}
	p.Resume()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "two" {
		t.Fatalf("held bytes after Resume: %q, %v", buf, err)
	}
	p.Cut()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Error("read after Cut succeeded")
	}
}
