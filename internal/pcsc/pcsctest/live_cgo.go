//go:build cgo || windows

package pcsctest

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/pcsc"
)

func init() {
	isRemoved = func(err error) bool { return errors.Is(err, pcsc.ErrCardRemoved) }
	liveCard = func(ctx context.Context, reader string) (Transmitter, func(), error) {
		m, err := pcsc.Open(ctx, zap.NewNop(), pcsc.Options{})
		if err != nil {
			return nil, nil, err
		}
		c, err := m.Connect(ctx, reader)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
}
