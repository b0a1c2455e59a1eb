package tap

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/reader"
)

// watchJSON is the `nfcd watch --json` line of an event. The shape of
// "tag" lines is a contract used by tools outside the project:
//
//	{"type":"tag","reader":str,"uid":HEX,"ctr":int|null,"url":str,
//	 "verdict":str,"reason":str,"apdus":int,"elapsed_ms":num}
//
// plus "profile" and "detail" when there are any. Other types carry "type",
// "reader" and, where they apply, "atr" (hex, card_present), "code" and
// "error" (a message, error) or "state" (pcsc: the PC/SC service state).
type watchJSON struct {
	Type      string          `json:"type"`
	Reader    string          `json:"reader"`
	UID       string          `json:"uid"`
	Ctr       ntag424.Counter `json:"ctr"`
	URL       string          `json:"url"`
	Verdict   string          `json:"verdict"`
	Reason    string          `json:"reason"`
	Detail    string          `json:"detail,omitempty"`
	Profile   string          `json:"profile,omitempty"`
	APDUs     int             `json:"apdus"`
	ElapsedMS float64         `json:"elapsed_ms"`
}

// MarshalJSON encodes e as one `nfcd watch --json` object.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.Kind == event.TagRead {
		r := e.Read
		return marshalNoEscape(watchJSON{
			Type: e.Kind.WatchName(), Reader: e.Reader, UID: r.UIDHex(), Ctr: r.Ctr(), URL: r.URL,
			Verdict: r.Verdict, Reason: r.Reason, Detail: r.Detail, Profile: r.Profile,
			APDUs: r.APDUs, ElapsedMS: ms(r.Elapsed),
		})
	}
	type other struct {
		Type   string         `json:"type"`
		Reader string         `json:"reader,omitempty"`
		ATR    string         `json:"atr,omitempty"`
		Code   event.Code     `json:"code,omitempty"`
		Error  string         `json:"error,omitempty"`
		State  reader.Service `json:"state,omitempty"`
	}
	o := other{Type: e.Kind.WatchName(), Reader: e.Reader}
	switch e.Kind {
	case event.CardPresent:
		o.ATR = ntag424.Hex(e.ATR)
	case event.Error:
		o.Code = e.Code
		if e.Err != nil {
			o.Error = e.Err.Error()
		}
	case event.ServiceChanged:
		o.State = e.Service
	}
	return marshalNoEscape(o)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func marshalNoEscape(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// String formats e as one readable line for `nfcd watch`.
func (e Event) String() string {
	ts := e.Time.Format("15:04:05.000")
	switch e.Kind {
	case event.TagRead:
		r := e.Read
		reason := r.Reason
		if r.Detail != "" {
			reason += " (" + r.Detail + ")"
		}
		return fmt.Sprintf("%s %-15s %s uid=%s ctr=%s reason=%s apdus=%d elapsed=%.2fms url=%s",
			ts, r.Verdict, e.Reader, r.UIDHex(), r.Ctr(), reason, r.APDUs, ms(r.Elapsed), r.URL)
	case event.CardPresent:
		return fmt.Sprintf("%s %-15s %s atr=%X", ts, "card present", e.Reader, e.ATR)
	case event.Error:
		return fmt.Sprintf("%s %-15s %s %s: %v", ts, "error", e.Reader, e.Code, e.Err)
	case event.ServiceChanged:
		return fmt.Sprintf("%s %-15s %s", ts, "pcsc service", e.Service)
	}
	return fmt.Sprintf("%s %-15s %s", ts, strings.ReplaceAll(e.Kind.WatchName(), "_", " "), e.Reader)
}
