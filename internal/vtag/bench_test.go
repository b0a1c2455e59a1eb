package vtag

import "testing"

// BenchmarkTap measures one 2-APDU tap (select the application, read the
// NDEF file by SFI), which mirrors a fresh SUN URL.
func BenchmarkTap(b *testing.B) {
	sel, read := h("00A4040C07D276000085010100"), h("00B0820000")
	for _, l := range []int{0, 2, 4} {
		b.Run(layouts[l].name, func(b *testing.B) {
			c := newCard(b, Config{Layout: layouts[l].layout, Keys: layouts[l].keys})
			b.ReportAllocs()
			for b.Loop() {
				c.Presentation()
				c.Transmit(sel)
				if rsp := c.Transmit(read); len(rsp) != ndefSize+2 {
					b.Fatalf("read %d bytes", len(rsp))
				}
				if c.ctr > maxCtr-2 {
					c.ctr = 0
				}
			}
		})
	}
}

// BenchmarkGetData measures the cheapest exchange, GET DATA (UID).
func BenchmarkGetData(b *testing.B) {
	c := newCard(b, Config{})
	apdu := h("FFCA000000")
	b.ReportAllocs()
	for b.Loop() {
		c.Transmit(apdu)
	}
}
