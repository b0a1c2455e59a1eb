//go:build cgo || windows

package pcsc

import (
	"context"

	"github.com/ebfe/scard"
)

// ListReaders lists the readers of the PC/SC service once, without
// watching them (nfcd doctor). No readers is an empty list; a service that
// is not there is an error matching ErrNoService (see Denied).
func ListReaders(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var sc *scard.Context
	err := guard("establish context", func() (err error) {
		sc, err = scard.EstablishContext()
		return err
	})
	if err != nil {
		return nil, err
	}
	defer guard("release context", sc.Release)
	return listReaders(sc)
}
