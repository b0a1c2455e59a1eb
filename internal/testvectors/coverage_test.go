package testvectors

import (
	"sort"
	"testing"
)

// testedBy names, for every category of ntag424.json, the package whose
// tests turn each of its records into a test case. A category that appears
// in the file but not here fails this test, so no vector is skipped
// silently when the file grows.
var testedBy = map[string]string{
	"aes_cmac":              "internal/aescmac",
	"sdm_session_keys":      "internal/ntag424 (AES), internal/lrp (LRP)",
	"sun_plain":             "internal/ntag424, internal/batch",
	"sun_enc_picc":          "internal/ntag424, internal/batch",
	"sun_encfile":           "internal/ntag424, internal/batch",
	"picc_decrypt_raw":      "internal/ntag424, internal/lrp",
	"sdm_mac_raw":           "internal/ntag424",
	"sdm_encfile_raw":       "internal/ntag424, internal/lrp",
	"lrp_plaintexts":        "internal/lrp",
	"lrp_updated_keys":      "internal/lrp",
	"lrp_eval":              "internal/lrp",
	"lrp_cmac":              "internal/lrp",
	"lrp_lricb":             "internal/lrp",
	"ev2_auth":              "internal/ntag424",
	"ev2_sm":                "internal/ntag424",
	"lrp_auth":              "internal/ntag424",
	"diversify_an10922":     "internal/diversify",
	"diversify_sdm_backend": "internal/diversify",
	"diversify_boltcard":    "internal/diversify",
	"crc32_jam":             "internal/ntag424",
	"originality_signature": "internal/ntag424",
	"apdu_info":             "internal/ntag424 (tag commands), internal/vtag",
}

func TestEveryCategoryIsTested(t *testing.T) {
	counts := map[string]int{}
	for _, v := range Load(t) {
		counts[v.Category]++
	}
	var cats []string
	for c := range counts {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	total := 0
	for _, c := range cats {
		total += counts[c]
		where, ok := testedBy[c]
		if !ok {
			t.Errorf("category %q (%d records) is tested nowhere", c, counts[c])
			continue
		}
		t.Logf("%-22s %3d records, tested in %s", c, counts[c], where)
	}
	t.Logf("%d records in %d categories", total, len(cats))
}
