package fleet

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// advanceSQL is one compare-and-advance (migrations/0001_counters.sql);
// queuedSQL the same for an advance that went through the queue, whose
// first answer the fleet keeps for resends (0003_advance_log.sql).
const (
	advanceSQL = `SELECT o_accepted, o_ctr, o_kiosk, o_at, o_nonce FROM nfcd.advance($1, $2, $3, $4, $5, $6)`
	queuedSQL  = `SELECT o_accepted, o_ctr, o_kiosk, o_at, o_nonce FROM nfcd.advance_queued($1, $2, $3, $4, $5, $6)`
)

// Check asks the fleet to accept the counters of as, authentic taps that
// passed this kiosk's own high-water mark, and returns one Result per
// advance. All of as travel in one round trip.
//
// Check returns within the configured timeout (plus a durable queue push).
// When the fleet does not answer in time, is unreachable, or advances of
// this kiosk are still queued (a later counter must not overtake them),
// every advance is queued and its Result is StateUnconfirmed: the caller
// decides on its own mark, and Run pushes the advance later, reporting a
// LateReplay if the fleet then refuses it. A fleet answer never needs
// confirming. The error is non-nil only for an invalid advance (ErrInvalid)
// or when the queue cannot store an advance that the fleet did not take.
func (c *Client) Check(ctx context.Context, as ...Advance) ([]Result, error) {
	if len(as) == 0 {
		return nil, nil
	}
	now := c.now()
	batch := make([]Advance, len(as))
	for i, a := range as {
		if err := a.validate(); err != nil {
			return nil, err
		}
		if a.Time.IsZero() {
			a.Time = now
		}
		if a.Nonce == 0 {
			a.Nonce = newNonce()
		}
		batch[i] = a
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-cctx.Done():
		// Another check of this kiosk used up the time.
		return c.enqueue(ctx, batch)
	}
	if c.down.Load() || c.pending.Load() > 0 {
		return c.enqueue(ctx, batch)
	}
	res, err := c.advance(cctx, advanceSQL, batch)
	if err != nil {
		// A slow answer, or a caller that gave up, says nothing about the
		// fleet's health; anything else makes later checks queue at once.
		c.failed(err, !timedOut(err) && ctx.Err() == nil)
		if c.log.Core().Enabled(zap.DebugLevel) {
			c.log.Debug("counter check not answered; queued", zap.Int("advances", len(batch)), zap.Error(c.scrub(err)))
		}
		return c.enqueue(ctx, batch)
	}
	c.contact()
	return res, nil
}

// enqueue pushes batch to the advance queue and reports it unconfirmed.
func (c *Client) enqueue(ctx context.Context, batch []Advance) ([]Result, error) {
	c.pending.Add(int64(len(batch)))
	// The tap is being decided now: a caller that is shutting down still
	// gets its advance recorded.
	if err := c.advances.Push(context.WithoutCancel(ctx), batch...); err != nil {
		c.pending.Add(-int64(len(batch)))
		return nil, fmt.Errorf("fleet: queue the counter advance: %w", err)
	}
	c.wake()
	res := make([]Result, len(batch))
	for i := range res {
		res[i].State = StateUnconfirmed
	}
	return res, nil
}

// advance runs the compare-and-advance sql (advanceSQL or queuedSQL) of
// every advance of batch in one round trip (one statement, or a pipelined
// batch in one implicit transaction) and returns the fleet's answers.
func (c *Client) advance(ctx context.Context, sql string, batch []Advance) ([]Result, error) {
	res := make([]Result, len(batch))
	if len(batch) == 1 {
		a := &batch[0]
		row := c.pool.QueryRow(ctx, sql, advanceArgs(a, c.kiosk)...)
		if err := scanAdvance(row, a, &res[0]); err != nil {
			return nil, err
		}
		return res, nil
	}
	var b pgx.Batch
	for i := range batch {
		b.Queue(sql, advanceArgs(&batch[i], c.kiosk)...)
	}
	br := c.pool.SendBatch(ctx, &b)
	for i := range batch {
		if err := scanAdvance(br.QueryRow(), &batch[i], &res[i]); err != nil {
			br.Close()
			return nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	return res, nil
}

func advanceArgs(a *Advance, kiosk string) []any {
	return []any{a.Profile, a.UID, int64(a.Ctr), kiosk, a.Time, int64(a.Nonce)}
}

// scanAdvance reads one answer of nfcd.advance. A refusal whose holder is
// this very advance (its random 63-bit nonce) is an acceptance whose answer
// was lost: a check that timed out on the client after the database had
// taken it, sent again from the queue (also after the kiosk was renamed).
func scanAdvance(row pgx.Row, a *Advance, r *Result) error {
	var (
		accepted bool
		ctr      int64
		holder   string
		at       time.Time
		nonce    int64
	)
	if err := row.Scan(&accepted, &ctr, &holder, &at, &nonce); err != nil {
		return err
	}
	if ctr < 0 || ctr > math.MaxUint32 {
		return fmt.Errorf("fleet: counter %d out of range in the database", ctr)
	}
	if !accepted && uint64(nonce) == a.Nonce {
		accepted = true
	}
	*r = Result{
		State:    StateConfirmed,
		Replayed: !accepted,
		Holder:   Holder{Kiosk: holder, Ctr: uint32(ctr), Time: at},
	}
	return nil
}
