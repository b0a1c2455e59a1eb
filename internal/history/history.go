// Package history answers questions about the audit log: the query that
// both the history.query request of the WebSocket API and `nfcd history`
// take, and the entries they return.
package history

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/ws"
)

// RequestType is the WebSocket request that queries the audit log.
const RequestType = "history.query"

// Query is the payload of a history.query request and the filter of `nfcd
// history`: uid (hex), since (a duration back from now such as "1h", or an
// RFC 3339 time), limit (default 100, at most MaxLimit).
type Query struct {
	UID   string `json:"uid"`
	Since string `json:"since"`
	Limit int    `json:"limit"`
}

// Entry is one audit log entry as the API returns it.
type Entry struct {
	Time    string          `json:"time"` // RFC 3339 UTC, milliseconds
	Reader  string          `json:"reader"`
	UID     string          `json:"uid"`
	Ctr     ntag424.Counter `json:"ctr"`
	Verdict string          `json:"verdict"`
	Reason  string          `json:"reason"`
	Detail  string          `json:"detail,omitempty"`
	Profile string          `json:"profile,omitempty"`
}

// Result is the result payload of a history.query request.
type Result struct {
	Entries []Entry `json:"entries"`
}

// MaxLimit bounds one query.
const MaxLimit = 1000

// QueryError says which field of a Query is wrong and how; its text is fit
// for the client that sent it.
type QueryError struct {
	Field, Msg string
}

func (e *QueryError) Error() string { return e.Field + ": " + e.Msg }

// StoreQuery converts q for the store, relative to now.
func (q Query) StoreQuery(now time.Time) (store.Query, error) {
	var sq store.Query
	if q.UID != "" {
		b, err := hex.DecodeString(q.UID)
		switch {
		case len(q.UID)%2 == 1:
			return sq, &QueryError{"uid", fmt.Sprintf("%d hex digits; a UID has an even number (two per byte)", len(q.UID))}
		case err != nil:
			return sq, &QueryError{"uid", "not hex (0-9, A-F)"}
		case len(b) > store.MaxUIDLen:
			return sq, &QueryError{"uid", fmt.Sprintf("longer than %d bytes", store.MaxUIDLen)}
		}
		sq.UID = b
	}
	if q.Since != "" {
		if d, err := time.ParseDuration(q.Since); err == nil && d >= 0 {
			sq.Since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, q.Since); err == nil {
			sq.Since = t
		} else {
			return sq, &QueryError{"since", "want a duration such as 1h or an RFC 3339 time"}
		}
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxLimit:
		return sq, &QueryError{"limit", fmt.Sprintf("want 0..%d", MaxLimit)}
	case q.Limit == 0:
		sq.Limit = store.DefaultQueryLimit
	default:
		sq.Limit = q.Limit
	}
	return sq, nil
}

// Entries converts store entries for the API, newest first.
func Entries(es []store.Entry) []Entry {
	out := make([]Entry, 0, len(es))
	for _, e := range es {
		out = append(out, Entry{
			Time:    e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
			Reader:  e.Reader,
			UID:     ntag424.Hex(e.UID),
			Ctr:     e.Ctr,
			Verdict: e.Verdict,
			Reason:  e.Reason,
			Detail:  e.Detail,
			Profile: e.Profile,
		})
	}
	return out
}

// Handler answers history.query requests from the audit log in st.
func Handler(st *store.Store) ws.HandlerFunc {
	return func(ctx context.Context, r *ws.Request) (any, error) {
		var q Query
		dec := json.NewDecoder(strings.NewReader(string(r.Payload)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			return nil, &ws.Error{Code: ws.CodeBadRequest, Message: "invalid history.query payload: want uid, since and limit"}
		}
		sq, err := q.StoreQuery(time.Now())
		if err != nil {
			return nil, &ws.Error{Code: ws.CodeBadRequest, Message: err.Error()}
		}
		es, err := st.Query(sq)
		if err != nil {
			return nil, err
		}
		return Result{Entries: Entries(es)}, nil
	}
}
