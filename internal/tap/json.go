package tap

import (
	"encoding/json"
	"fmt"
	"strings"
)

// watchJSON is the `nfcd watch --json` line of an event. The shape of
// "tag" lines is a contract used by tools outside the project:
//
//	{"type":"tag","reader":str,"uid":HEX,"ctr":int|null,"url":str,
//	 "verdict":str,"reason":str,"apdus":int,"elapsed_ms":num}
//
// Other types carry "type", "reader" and, where they apply, "atr" (hex,
// card_present) or "error" (a message, error).
type watchJSON struct {
	Type      string   `json:"type"`
	Reader    string   `json:"reader"`
	UID       *string  `json:"uid,omitempty"`
	Ctr       *uint32  `json:"ctr"`
	URL       *string  `json:"url,omitempty"`
	Verdict   string   `json:"verdict,omitempty"`
	Reason    *string  `json:"reason,omitempty"`
	APDUs     *int     `json:"apdus,omitempty"`
	ElapsedMS *float64 `json:"elapsed_ms,omitempty"`
	ATR       string   `json:"atr,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// MarshalJSON encodes e as one `nfcd watch --json` object.
func (e Event) MarshalJSON() ([]byte, error) {
	w := watchJSON{Type: e.Type, Reader: e.Reader}
	switch e.Type {
	case TypeTag:
		t := e.Tag
		uid := t.UIDHex()
		ms := float64(t.Elapsed.Microseconds()) / 1000
		w.UID, w.URL, w.Verdict, w.Reason, w.APDUs, w.ElapsedMS = &uid, &t.URL, t.Verdict, &t.Reason, &t.APDUs, &ms
		if t.HasCtr {
			c := t.Ctr
			w.Ctr = &c
		}
		return marshalNoEscape(w)
	case TypeCardPresent:
		w.ATR = fmt.Sprintf("%X", e.ATR)
	case TypeError:
		if e.Err != nil {
			w.Error = e.Err.Error()
		}
	}
	// "ctr" belongs to tag lines only.
	type other struct {
		Type   string `json:"type"`
		Reader string `json:"reader,omitempty"`
		ATR    string `json:"atr,omitempty"`
		Error  string `json:"error,omitempty"`
	}
	return marshalNoEscape(other{Type: w.Type, Reader: w.Reader, ATR: w.ATR, Error: w.Error})
}

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
	switch e.Type {
	case TypeTag:
		t := e.Tag
		ctr := "-"
		if t.HasCtr {
			ctr = fmt.Sprint(t.Ctr)
		}
		return fmt.Sprintf("%s %-12s %s uid=%s ctr=%s reason=%q apdus=%d elapsed=%.2fms url=%s",
			ts, strings.ToUpper(t.Verdict), e.Reader, t.UIDHex(), ctr, t.Reason, t.APDUs,
			float64(t.Elapsed.Microseconds())/1000, t.URL)
	case TypeCardPresent:
		return fmt.Sprintf("%s card present  %s atr=%X", ts, e.Reader, e.ATR)
	case TypeError:
		return fmt.Sprintf("%s error         %s %v", ts, e.Reader, e.Err)
	}
	return fmt.Sprintf("%s %-13s %s", ts, strings.ReplaceAll(e.Type, "_", " "), e.Reader)
}
