//go:build cgo || windows

package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Feedback signals a verdict on the reader holding c: a green blink and one
// beep when ok, a red blink and three beeps otherwise. It does nothing and
// returns nil unless Options.Feedback is set. For a reader without
// host-controlled feedback it returns an error matching errors.ErrUnsupported.
func (m *Monitor) Feedback(ctx context.Context, c *Card, ok bool) error {
	if !m.opts.Feedback {
		return nil
	}
	cmd := c.quirks.Fail
	if ok {
		cmd = c.quirks.OK
	}
	if cmd == nil {
		return fmt.Errorf("pcsc: feedback on %q: %w", c.reader, errors.ErrUnsupported)
	}
	return c.command(ctx, "feedback", cmd)
}

// command sends one reader-control Command over c and checks the reader's
// success answer: SW1 90 for pseudo-APDUs (the ACR122U returns 90 <LED
// state>), E1 00 00 00 for ACS escapes.
func (c *Card) command(ctx context.Context, op string, cmd *Command) error {
	var rsp []byte
	var err error
	if cmd.Escape {
		rsp, err = c.control(ctx, cmd.Data)
	} else {
		rsp, err = c.Transmit(ctx, cmd.Data)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case cmd.Escape && bytes.HasPrefix(rsp, []byte{0xE1, 0x00, 0x00, 0x00}):
		return nil
	case !cmd.Escape && len(rsp) >= 2 && rsp[len(rsp)-2] == 0x90:
		return nil
	}
	return fmt.Errorf("pcsc: %s: reader answered % X", op, rsp)
}
