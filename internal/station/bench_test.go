package station_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
	"github.com/nfcd/nfcd/internal/station"
)

// BenchmarkWSUpload measures a photo's way through the station: binary
// frames over a loopback WebSocket (256 KiB chunks, four in flight), the
// image preparation (decode, checks, metadata strip) and the presigned PUT
// to the in-process fake S3, until the done event. The bytes are the raw
// photo's.
func BenchmarkWSUpload(b *testing.B) {
	r := newRig(b, rigOpts{fake: legitmarktest.Options{}})
	cl := r.dial()
	var rec record
	cl.result(station.TypeCreate, map[string]any{"category": legitmarktest.CategoryHandbags, "type": legitmarktest.TypeTote}, &rec)
	var req requirements
	cl.result(station.TypeRequirements, map[string]string{"uuid": rec.UUID}, &req)
	photos := [][]byte{noisyJPEG(b, 1600, 1200), noisyJPEG(b, 1601, 1200)} // ≈ 2 MB each, different digests
	b.SetBytes(int64(len(photos[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		side := req.Required[i%len(req.Required)].UUID
		cl.upload(rec.UUID, side, photos[i%2])
		for {
			var p progressEv
			json.Unmarshal(cl.next(station.EventUploadProgress, 30*time.Second).Payload, &p)
			if p.Side == side && p.Stage == station.StageDone {
				break
			}
			if p.Side == side && p.Stage == station.StageFailed {
				b.Fatalf("upload failed: %+v", p)
			}
		}
	}
}
