package store

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestBoltVersionPinned fails when go.mod moves to a bbolt release other
// than the one verifyFile mirrors: its page and meta checks must then be
// reviewed against the new release's internal/common before the pin moves.
func TestBoltVersionPinned(t *testing.T) {
	f, err := os.Open("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "go.etcd.io/bbolt" {
			if fields[1] != checkedBoltVersion {
				t.Fatalf("go.mod requires go.etcd.io/bbolt %s; verifyFile mirrors %s: review boltcheck.go against it, then move checkedBoltVersion", fields[1], checkedBoltVersion)
			}
			return
		}
	}
	t.Fatal("go.mod does not require go.etcd.io/bbolt")
}
