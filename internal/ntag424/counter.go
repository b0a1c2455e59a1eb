package ntag424

import "strconv"

// Counter is the SDM read counter (SDMReadCtr, 24 bits, NT4H2421Gx §9.3.3)
// that a SUN message mirrors, or none: a tag personalised without counter
// mirroring sends none. It is the one counter type of nfcd, from the tag to
// the audit log and the wire, where it encodes to JSON as a number, or null
// when there is none. The zero value is no counter.
type Counter struct {
	Value uint32
	Valid bool // false: the tag mirrors no counter
}

// CounterOf returns the valid counter n.
func CounterOf(n uint32) Counter { return Counter{Value: n, Valid: true} }

// String returns the counter in decimal, or "-" when there is none.
func (c Counter) String() string {
	if !c.Valid {
		return "-"
	}
	return strconv.FormatUint(uint64(c.Value), 10)
}

// AppendJSON appends the counter's JSON encoding: a number, or null.
func (c Counter) AppendJSON(dst []byte) []byte {
	if !c.Valid {
		return append(dst, "null"...)
	}
	return strconv.AppendUint(dst, uint64(c.Value), 10)
}

// MarshalJSON encodes the counter as a number, or null when there is none.
func (c Counter) MarshalJSON() ([]byte, error) { return c.AppendJSON(nil), nil }

// UnmarshalJSON decodes a number (0 to 2^32-1) or null.
func (c *Counter) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*c = Counter{}
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 32)
	if err != nil {
		return &FormatError{Field: "ctr", Msg: "want an integer from 0 to 4294967295 or null"}
	}
	*c = CounterOf(uint32(n))
	return nil
}
