package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
)

// Backoff of Run after a failed round: from minBackoff, doubling, up to
// maxBackoff, each wait randomised by ±20% so that a fleet of kiosks does
// not reconnect in step after a database restart.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 15 * time.Second
)

// Ship queues audit entries for the fleet's taps table; Run sends them in
// batches. Each tap gets this client's kiosk ID. Text fields are cut to
// their limits; a tap is refused (ErrInvalid) only for a time out of range,
// a sequence number above 2⁶³-1 or a UID longer than MaxUIDLen.
func (c *Client) Ship(ctx context.Context, taps ...Tap) error {
	if len(taps) == 0 {
		return nil
	}
	batch := make([]Tap, len(taps))
	for i, t := range taps {
		if err := t.prepare(c.kiosk); err != nil {
			return err
		}
		if len(t.UID) == 0 {
			t.UID = nil
		}
		batch[i] = t
	}
	if err := c.taps.Push(ctx, batch...); err != nil {
		return fmt.Errorf("fleet: queue audit entries: %w", err)
	}
	c.wake()
	return nil
}

// Run connects to the fleet, migrates the schema when the configuration
// allows it, pushes queued advances in order (reporting the refused ones
// as LateReplay), ships queued audit entries in batches, and keeps this
// kiosk's row in the kiosks table fresh. While the database is away it
// retries with capped exponential backoff. It returns nil when ctx is done.
func (c *Client) Run(ctx context.Context) error {
	b := backoff{min: minBackoff, max: maxBackoff}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	wait := func(d time.Duration, kick <-chan struct{}) bool {
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return false
		case <-kick:
		case <-timer.C:
		}
		// Since Go 1.23 Reset discards a stale tick: no draining needed.
		return true
	}
	for {
		more, err := c.sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.failed(err, true)
			// A kick does not cut the backoff short: a burst of taps must
			// not turn into a burst of connection attempts.
			if !wait(b.next(), nil) {
				return nil
			}
			continue
		}
		c.contact()
		b.reset()
		if more {
			continue
		}
		if !wait(c.idle(), c.kick) {
			return nil
		}
	}
}

// idle is how long Run sleeps without new work: until the next heartbeat.
func (c *Client) idle() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.heartbeatAt.Add(heartbeatEvery).Sub(c.now()), time.Second)
}

// backoff yields capped exponential waits with jitter.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64()))
}

func (b *backoff) reset() { b.cur = 0 }

// syncOnce is one round of Run. more reports that a queue still holds
// work.
func (c *Client) syncOnce(ctx context.Context) (more bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if err := c.prepare(ctx); err != nil {
		return false, err
	}
	moreA, err := c.drainAdvances(ctx)
	if err != nil {
		return false, err
	}
	moreT, err := c.shipTaps(ctx)
	if err != nil {
		return false, err
	}
	return moreA || moreT, nil
}

// prepare checks (or migrates) the schema after a start or a failure, and
// does the periodic heartbeat and partition upkeep.
func (c *Client) prepare(ctx context.Context) error {
	c.mu.Lock()
	ready := c.ready
	now := c.now()
	beat := now.Sub(c.heartbeatAt) >= heartbeatEvery
	parts := now.Sub(c.partitionAt) >= partitionsEvery
	c.mu.Unlock()
	if !ready {
		v, err := readVersion(ctx, c.pool)
		if err != nil {
			return err
		}
		if v < SchemaVersion && c.migrate {
			m, err := migrateTo(ctx, c.pool, SchemaVersion)
			if err != nil {
				return err
			}
			if m.From != m.To {
				c.log.Info("fleet schema migrated", zap.Int("from", m.From), zap.Int("to", m.To))
			}
			v = m.To
		}
		c.mu.Lock()
		c.schema = v
		c.mu.Unlock()
		if v < SchemaVersion {
			return fmt.Errorf("%w: version %d, need %d (run nfcd fleet migrate, or set migrate = true)", ErrSchemaOld, v, SchemaVersion)
		}
		beat, parts = true, true
	}
	if beat {
		_, err := c.pool.Exec(ctx, `INSERT INTO nfcd.kiosks (id, version) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, last_seen = now()`, c.kiosk, c.version)
		if err != nil {
			return fmt.Errorf("record the kiosk: %w", err)
		}
	}
	if parts {
		if err := c.ensurePartitions(ctx, now); err != nil {
			return err
		}
		// A logged answer is only read by a resend right after a failed
		// acknowledgement or a crash.
		if _, err := c.pool.Exec(ctx, `DELETE FROM nfcd.advance_log WHERE kiosk = $1 AND logged < $2`,
			c.kiosk, now.Add(-advanceLogKeep)); err != nil {
			return fmt.Errorf("prune the advance log: %w", err)
		}
	}
	c.mu.Lock()
	c.ready = true
	if beat {
		c.heartbeatAt = now
	}
	if parts {
		c.partitionAt = now
	}
	c.mu.Unlock()
	return nil
}

// ensurePartitions creates the coming months' partitions of taps. A kiosk
// role without the right to create tables leaves this to `nfcd fleet
// migrate` (which does it too) and says so once.
func (c *Client) ensurePartitions(ctx context.Context, now time.Time) error {
	var n int
	err := c.pool.QueryRow(ctx, `SELECT nfcd.ensure_tap_partitions($1, $2)`, now, partitionsAhead).Scan(&n)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
		c.mu.Lock()
		warned := c.warnedParts
		c.warnedParts = true
		c.mu.Unlock()
		if !warned {
			c.log.Warn("cannot create partitions of the taps table; run nfcd fleet migrate monthly", zap.Error(c.scrub(err)))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the taps partitions: %w", err)
	}
	if n > 0 {
		c.log.Info("taps partitions created", zap.Int("partitions", n))
	}
	return nil
}

// permanent reports whether err is the database refusing the data itself
// (a data exception or a constraint), which no retry will change.
func permanent(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	return pe.Code[:2] == "22" || pe.Code[:2] == "23"
}

// drainAdvances pushes the oldest queued advances, in order and in one
// round trip, reports the refused ones, and removes them from the queue.
func (c *Client) drainAdvances(ctx context.Context) (more bool, err error) {
	items, err := c.advances.Peek(ctx, advanceBatch)
	if err != nil || len(items) == 0 {
		return false, err
	}
	n := len(items)
	batch := make([]Advance, len(items))
	for i := range items {
		batch[i] = items[i].Item
	}
	res, err := c.advance(ctx, queuedSQL, batch)
	if err != nil && permanent(err) && len(batch) > 1 {
		// One bad item fails the whole implicit transaction: send them one
		// by one so that only that one is dropped.
		items, batch = items[:1], batch[:1]
		res, err = c.advance(ctx, queuedSQL, batch)
	}
	if err != nil && permanent(err) {
		c.log.Error("fleet refused a queued advance; dropped", zap.String("tap", batch[0].Tap), zap.Error(c.scrub(err)))
		c.mu.Lock()
		c.dropped++
		c.mu.Unlock()
		res, err = []Result{{State: StateUnconfirmed}}, nil
	}
	if err != nil {
		return false, err
	}
	done := 0
	for i, r := range res {
		if r.State != StateConfirmed || !r.Replayed {
			done = i + 1
			continue
		}
		late := LateReplay{Advance: batch[i], Holder: r.Holder}
		c.log.Warn("late replay: the fleet refused a counter accepted while it was away",
			zap.String("tap", late.Advance.Tap), zap.String("profile", late.Advance.Profile),
			zap.Binary("uid", late.Advance.UID), zap.Uint32("ctr", late.Advance.Ctr),
			zap.String("holder_kiosk", r.Holder.Kiosk), zap.Uint32("holder_ctr", r.Holder.Ctr),
			zap.Time("holder_time", r.Holder.Time))
		if c.onLate != nil {
			if err := c.onLate(ctx, late); err != nil {
				if rerr := c.removeAdvances(ctx, items[:done]); rerr != nil {
					return false, rerr
				}
				return false, fmt.Errorf("report a late replay: %w", err)
			}
		}
		c.mu.Lock()
		c.lateCount++
		c.mu.Unlock()
		done = i + 1
	}
	if err := c.removeAdvances(ctx, items[:done]); err != nil {
		return false, err
	}
	return n == advanceBatch || done < n, nil
}

func (c *Client) removeAdvances(ctx context.Context, items []Queued[Advance]) error {
	if len(items) == 0 {
		return nil
	}
	if err := c.advances.Remove(ctx, items[len(items)-1].ID); err != nil {
		return fmt.Errorf("remove pushed advances from the queue: %w", err)
	}
	c.pending.Add(-int64(len(items)))
	return nil
}

// shipSQL inserts a batch of audit rows from arrays, one row per index; a
// row already shipped (same kiosk, time and local_seq) is skipped.
const shipSQL = `INSERT INTO nfcd.taps (time, kiosk, local_seq, reader, profile, uid, ctr, verdict, reason, detail, key_id, fleet, tap)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bigint[],
	$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
ON CONFLICT (kiosk, time, local_seq) DO NOTHING`

// shipTaps sends the oldest queued audit rows in one statement and removes
// them from the queue. A crash between the two sends them again, which
// adds nothing.
func (c *Client) shipTaps(ctx context.Context) (more bool, err error) {
	items, err := c.taps.Peek(ctx, tapBatch)
	if err != nil || len(items) == 0 {
		return false, err
	}
	err = c.insertTaps(ctx, items)
	if err != nil && permanent(err) {
		// Find the row the database refuses and drop only it.
		for i := range items {
			if err := c.insertTaps(ctx, items[i:i+1]); err != nil {
				if !permanent(err) {
					return false, err
				}
				c.log.Error("fleet refused an audit row; dropped", zap.String("kiosk", items[i].Item.Kiosk),
					zap.Uint64("seq", items[i].Item.Seq), zap.Error(c.scrub(err)))
				c.mu.Lock()
				c.dropped++
				c.mu.Unlock()
			}
		}
		err = nil
	}
	if err != nil {
		return false, err
	}
	if err := c.taps.Remove(ctx, items[len(items)-1].ID); err != nil {
		return false, fmt.Errorf("remove shipped audit rows from the queue: %w", err)
	}
	return len(items) == tapBatch, nil
}

func (c *Client) insertTaps(ctx context.Context, items []Queued[Tap]) error {
	n := len(items)
	var (
		times                                                       = make([]time.Time, n)
		kiosks, readers, profiles, verdicts, reasons, details, keys = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		states, ids                                                 = make([]string, n), make([]string, n)
		seqs                                                        = make([]int64, n)
		uids                                                        = make([][]byte, n)
		ctrs                                                        = make([]*int64, n)
	)
	for i := range items {
		t := &items[i].Item
		times[i], kiosks[i], seqs[i] = t.Time, t.Kiosk, int64(t.Seq)
		readers[i], profiles[i], uids[i] = t.Reader, t.Profile, t.UID
		if t.Ctr.Valid {
			ctrs[i] = new(int64(t.Ctr.Value))
		}
		verdicts[i], reasons[i], details[i], keys[i], states[i], ids[i] = t.Verdict, t.Reason, t.Detail, t.KeyID, t.Fleet, t.ID
	}
	_, err := c.pool.Exec(ctx, shipSQL, times, kiosks, seqs, readers, profiles, uids, ctrs,
		verdicts, reasons, details, keys, states, ids)
	return err
}
