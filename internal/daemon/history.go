package daemon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/ws"
)

// HistoryQuery is the payload of a history.query request and the filter of
// `nfcd history`: uid (hex), since (a duration back from now such as "1h",
// or an RFC 3339 time), limit (default 100, at most 1000).
type HistoryQuery struct {
	UID   string `json:"uid"`
	Since string `json:"since"`
	Limit int    `json:"limit"`
}

// HistoryEntry is one audit log entry as the API returns it.
type HistoryEntry struct {
	Time    string  `json:"time"`
	Reader  string  `json:"reader"`
	UID     string  `json:"uid"`
	Ctr     *uint32 `json:"ctr"`
	Verdict string  `json:"verdict"`
	Reason  string  `json:"reason"`
}

// MaxHistoryLimit bounds one history query.
const MaxHistoryLimit = 1000

// StoreQuery converts q for the store, relative to now.
func (q HistoryQuery) StoreQuery(now time.Time) (store.Query, error) {
	var sq store.Query
	if q.UID != "" {
		b, err := hex.DecodeString(q.UID)
		if err != nil || len(b) == 0 || len(b) > store.MaxUIDLen {
			return sq, fmt.Errorf("uid: want hex")
		}
		sq.UID = b
	}
	if q.Since != "" {
		if d, err := time.ParseDuration(q.Since); err == nil && d >= 0 {
			sq.Since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, q.Since); err == nil {
			sq.Since = t
		} else {
			return sq, fmt.Errorf("since: want a duration such as 1h or an RFC 3339 time")
		}
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxHistoryLimit:
		return sq, fmt.Errorf("limit: want 0..%d", MaxHistoryLimit)
	case q.Limit == 0:
		sq.Limit = store.DefaultQueryLimit
	default:
		sq.Limit = q.Limit
	}
	return sq, nil
}

// Entries converts store entries for the API, newest first.
func Entries(es []store.Entry) []HistoryEntry {
	out := make([]HistoryEntry, 0, len(es))
	for _, e := range es {
		out = append(out, HistoryEntry{
			Time:    e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
			Reader:  e.Reader,
			UID:     strings.ToUpper(hex.EncodeToString(e.UID)),
			Ctr:     e.Counter,
			Verdict: e.Verdict,
			Reason:  e.Reason,
		})
	}
	return out
}

// History implements ws.Backend.
func (d *Daemon) History(ctx context.Context, raw json.RawMessage) (any, error) {
	var q HistoryQuery
	if len(raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			return nil, fmt.Errorf("%w: history.query: %v", ws.ErrBadRequest, err)
		}
	}
	sq, err := q.StoreQuery(time.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ws.ErrBadRequest, err)
	}
	es, err := d.store.Query(sq)
	if err != nil {
		return nil, err
	}
	return Entries(es), nil
}
