package fleet

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != SchemaVersion {
		t.Errorf("%d migration files, SchemaVersion = %d", len(ms), SchemaVersion)
	}
	for _, m := range ms {
		if !strings.HasPrefix(m.sql, "-- nfcd fleet schema, migration ") {
			t.Errorf("migration %d does not start with its header comment", m.version)
		}
	}
}

func TestParseMigrations(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name  string
		files []string
		ok    bool
	}{
		{"numbered", []string{"0001_a.sql", "0002_b.sql"}, true},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, false},
		{"not from one", []string{"0002_b.sql"}, false},
		{"no name", []string{"0001.sql"}, false},
		{"short number", []string{"1_a.sql"}, false},
		{"not sql", []string{"0001_a.txt"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["m/"+f] = file
			}
			ms, err := parseMigrations(fsys, "m")
			if (err == nil) != tc.ok {
				t.Errorf("parseMigrations(%v) = %d, %v; want ok=%v", tc.files, len(ms), err, tc.ok)
			}
		})
	}
}
