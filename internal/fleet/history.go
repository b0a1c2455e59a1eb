package fleet

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// History limits: DefaultHistoryLimit when HistoryQuery.Limit is zero or
// negative, never more than MaxHistoryLimit.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 10_000
)

// HistoryQuery selects taps of the whole fleet (`nfcd history --fleet`).
// Zero fields do not filter.
type HistoryQuery struct {
	UID     []byte
	Profile string
	Kiosk   string
	Since   time.Time // taps at or after Since
	Limit   int
}

// History returns the fleet's taps matching q, newest first. Each filter
// has an index: (uid, time) for a tag, the key (kiosk, time, local_seq) for
// a kiosk, (time) for the whole fleet; Since also skips whole monthly
// partitions.
func (d *DB) History(ctx context.Context, q HistoryQuery) ([]Tap, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	limit = min(limit, MaxHistoryLimit)
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.UID != nil {
		add("uid = ?", q.UID)
	}
	if q.Profile != "" {
		add("profile = ?", q.Profile)
	}
	if q.Kiosk != "" {
		add("kiosk = ?", q.Kiosk)
	}
	if !q.Since.IsZero() {
		add("time >= ?", q.Since)
	}
	sql := `SELECT time, kiosk, local_seq, tap, reader, profile, uid, ctr, verdict, reason, detail, key_id, fleet FROM nfcd.taps`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	sql += " ORDER BY time DESC, kiosk, local_seq DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("fleet: query taps: %w", d.scrub(err))
	}
	taps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tap, error) {
		var (
			t   Tap
			seq int64
			ctr *int64
		)
		err := r.Scan(&t.Time, &t.Kiosk, &seq, &t.ID, &t.Reader, &t.Profile, &t.UID, &ctr,
			&t.Verdict, &t.Reason, &t.Detail, &t.KeyID, &t.Fleet)
		t.Seq = uint64(seq)
		if ctr != nil {
			t.Ctr = ntag424.CounterOf(uint32(*ctr))
		}
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: query taps: %w", d.scrub(err))
	}
	return taps, nil
}
