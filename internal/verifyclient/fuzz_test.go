package verifyclient

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// Seeds: the documented examples (remote-apis.md §1.3) and their edges.
var fuzzSeeds = []string{
	`{"uid":"AABBCCDDEEFF00","verified":true,"nft_chain_id":137,"nft_contract_address":"0xa8","nft_token_id":492,"name":"n","sku_id":1,"serial_number":492}`,
	`{"cmac_verified":true,"page_content":{"type":null,"version":null,"data":null,"options":{}},"tag":{"uid":"17261BVD8B1816","tamper":null,"counter":48,"created_at":"2025-06-01T13:12:44.000Z","owner_address":null,"email_marketing_consent":null}}`,
	`{"cmac_verified":true,"tag":{"uid":"04603DCA9C1790"},"verification":{"id":5978,"tag_id":48941,"cmac":"6C3BC119371FBFFB","created_at":"2025-06-23T22:45:26.327Z","updated_at":"2025-06-23T22:45:26.327Z"}}`,
	`{"hash":"0xabc"}`,
	`{"verifications":[{"created_at":"2023-10-25T09:13:31+00:00","verify_type":"custom","custom_verification_type":{"id":1,"name":"x"},"uid":"AABBCCDDEEFF00","tamper":false,"counter":5,"city":"Aobadai","latitude":35.6509,"longitude":139.6943}]}`,
	`{"transfers":[{"id":108,"tag_uid":"042C306A2817260","nft_token_id":2,"sender_address":null,"receiver_address":"0x803d","transfer_type":"transfer","created_at":"2011-05-28T20:52:34.154Z","receiver_email":"l*****@d********.c**"}]}`,
	`{"message":{"email_marketing_consent":"name@gmail.com subscribed"}}`,
	`{"errors":{"cmac":"has expired","tag":["could not be found"]}}`,
	`{"error":{"tag":["could not be found"]}}`,
	`{"error":"This tag has not been enabled for claiming."}`,
	`<html>502</html>`, `{"uid":`, `null`, `[]`, `{"created_at":1}`, `{"errors":null,"verified":true}`,
}

// fuzzDecoder checks a decoder's invariants: no panic; on error the zero
// value; on success, encoding and decoding again reaches a fixed point
// (raw JSON fields are compacted on the first round).
func fuzzDecoder[T any](f *testing.F, decode func([]byte) (T, error)) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decode(b)
		var zero T
		if err != nil {
			if !reflect.DeepEqual(v, zero) {
				t.Fatalf("error %v with a non-zero value %+v", err, v)
			}
			return
		}
		enc1, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		v2, err := decode(enc1)
		if err != nil {
			t.Fatalf("decode(%s) of a re-encoded value: %v", enc1, err)
		}
		enc2, _ := json.Marshal(v2)
		v3, err := decode(enc2)
		if err != nil || !reflect.DeepEqual(v2, v3) {
			t.Fatalf("no fixed point: %+v vs %+v (%v)", v2, v3, err)
		}
	})
}

func FuzzDecodeVerify(f *testing.F)        { fuzzDecoder(f, DecodeVerify) }
func FuzzDecodeValidate(f *testing.F)      { fuzzDecoder(f, DecodeValidate) }
func FuzzDecodeLatest(f *testing.F)        { fuzzDecoder(f, DecodeLatest) }
func FuzzDecodeTx(f *testing.F)            { fuzzDecoder(f, DecodeTx) }
func FuzzDecodeVerifications(f *testing.F) { fuzzDecoder(f, DecodeVerifications) }
func FuzzDecodeTransfers(f *testing.F)     { fuzzDecoder(f, DecodeTransfers) }
func FuzzDecodeConsent(f *testing.F)       { fuzzDecoder(f, DecodeConsent) }

// FuzzErrorBody: the normaliser never panics, never yields an empty
// message list, and the APIError around it always has a message.
func FuzzErrorBody(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), 422)
	}
	f.Fuzz(func(t *testing.T, b []byte, status int) {
		fields, isJSON := NormalizeErrorBody(b)
		if !isJSON && fields != nil {
			t.Fatalf("fields %v from a non-JSON body", fields)
		}
		for k, msgs := range fields {
			if len(msgs) == 0 {
				t.Fatalf("empty messages under %q", k)
			}
		}
		e := newAPIError(opVerify, status, "application/json", "5", b, time.Time{})
		if e.Error() == "" || len(e.Raw) > maxRawKept {
			t.Fatalf("APIError %q with %d raw bytes", e.Error(), len(e.Raw))
		}
	})
}

// FuzzTripleFromURL: no panic; on success the triple validates and
// every field is exactly a query value.
func FuzzTripleFromURL(f *testing.F) {
	f.Add("https://tap.legitimate.tech/?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3")
	f.Add("https://x/?uid=041e3c8a2d6b801&ctr=00000045&cmac=9f5e6a1c&tamper=OO")
	f.Add("https://x/?uid=%30&ctr=&cmac")
	f.Fuzz(func(t *testing.T, u string) {
		tr, err := TripleFromURL(u)
		if err != nil {
			if tr != (Triple{}) {
				t.Fatalf("error %v with %+v", err, tr)
			}
			return
		}
		if err := tr.Validate(); err != nil {
			t.Fatalf("TripleFromURL(%q) = %+v which does not validate: %v", u, tr, err)
		}
	})
}
