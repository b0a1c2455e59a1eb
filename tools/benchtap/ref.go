package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/ebfe/scard"

	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
)

// The reference client is the floor a PC/SC consumer can reach on this
// rig: the reference client of issue 16's table (a bare PC/SC loop that
// reads the NDEF file and prints a line; no verification, no store, no
// signature). benchtap runs itself as that client (refClientFlag) so that
// it is measured as a process of its own, like `nfcd watch`: it waits in
// SCardGetStatusChange without a timeout, connects, sends the two APDUs
// nfcd sends (SELECT the NDEF application, READ BINARY of the NDEF file by
// its short file identifier) and prints one JSON line per change.
const refClientFlag = "-reference-client"

var (
	apduSelectNDEFApp = []byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01, 0x00}
	apduReadNDEF      = []byte{0x00, 0xB0, 0x82, 0x00, 0x00} // SFI 02h, Le 256
)

// referenceClient is the reference client's main; it returns when stdout
// or PC/SC fails.
func referenceClient(reader string) error {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return err
	}
	defer ctx.Release()
	out := bufio.NewWriter(os.Stdout)
	line := func(s string) error {
		out.WriteString(s)
		out.WriteByte('\n')
		return out.Flush()
	}
	if err := line(`{"type":"ready"}`); err != nil {
		return err
	}
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	present := false
	for {
		rs[0].Atr = nil
		if err := ctx.GetStatusChange(rs, -1); err != nil {
			return err
		}
		st := rs[0].EventState
		rs[0].CurrentState = st &^ scard.StateChanged
		now := st&scard.StatePresent != 0
		switch {
		case now && !present:
			kind := "tag"
			if err := read(ctx, reader); err != nil {
				kind = "error"
			}
			if err := line(`{"type":"` + kind + `"}`); err != nil {
				return err
			}
		case !now && present:
			if err := line(`{"type":"card_removed"}`); err != nil {
				return err
			}
		}
		present = now
	}
}

// read reads the NDEF file of the tag in reader.
func read(ctx *scard.Context, reader string) error {
	card, err := ctx.Connect(reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return err
	}
	defer card.Disconnect(scard.LeaveCard)
	for _, apdu := range [][]byte{apduSelectNDEFApp, apduReadNDEF} {
		rsp, err := card.Transmit(apdu)
		if err != nil {
			return err
		}
		if len(rsp) < 2 || rsp[len(rsp)-2] != 0x90 || rsp[len(rsp)-1] != 0x00 {
			return fmt.Errorf("status %X", rsp[max(0, len(rsp)-2):])
		}
	}
	return nil
}

// reference measures the reference client.
func (b *bench) reference() (*Mode, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd, lines, err := b.startCmd(self, refClientFlag, vpcdtest.Slot0)
	if err != nil {
		return nil, err
	}
	defer stop(cmd)
	c := consumer{next: nextOf(jsonArrivals(lines))}
	if _, _, err := c.next(10*time.Second, "ready"); err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // let start-up settle
	b.logf("reference: idle for %v", b.o.idle)
	_, it := b.idle(cmd.Process.Pid)
	s, lost, err := b.taps(c, "tag", "card_removed")
	if err != nil {
		return nil, err
	}
	m := summarize("ref", s, lost)
	m.Idle = []Idle{it}
	return m, nil
}
