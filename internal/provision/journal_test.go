package provision

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBoltJournal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state", "provision.db")
	j, err := OpenJournal(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := j.Load(ctx, []byte{4, 1}); r != nil || err != nil {
		t.Fatalf("Load(missing) = %v, %v", r, err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := &Record{UID: "0401020304050607"[:14], Profile: "p", Op: OpProvision, State: StateInProgress,
		Steps: map[string]StepState{"write_ndef": {Status: StepDone, At: now}}, KeyVersions: [5]int{-1, 1, -1, -1, -1}, Started: now, Updated: now}
	if err := j.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// A second process (here: a second open) is refused while the first holds it.
	if _, err := OpenJournal(path, 50*time.Millisecond); !errors.Is(err, ErrJournalLocked) {
		t.Errorf("second OpenJournal = %v, want ErrJournalLocked", err)
	}
	j.Close()
	j, err = OpenJournal(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got, err := j.Load(ctx, []byte{4, 1, 2, 3, 4, 5, 6})
	if err != nil || got == nil || got.Profile != "p" || !got.done("write_ndef") || got.KeyVersions[1] != 1 || !got.Started.Equal(now) {
		t.Fatalf("Load after reopen = %+v, %v", got, err)
	}
	if err := j.Save(ctx, &Record{UID: "zz"}); err == nil {
		t.Error("Save accepted a non-hex UID")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("journal file mode %v, %v", fi.Mode(), err)
	}
	all, err := j.Records(ctx)
	if err != nil || len(all) != 1 {
		t.Errorf("Records = %d, %v", len(all), err)
	}
}

const crashEnv = "NFCD_PROVISION_CRASH_DB"

// TestHelperJournalWriter is the child of TestJournalSurvivesKill: it
// saves records as fast as it can and prints "ACK n" after each Save
// returned, until killed.
func TestHelperJournalWriter(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestJournalSurvivesKill")
	}
	j, err := OpenJournal(path, 5*time.Second)
	if err != nil {
		fmt.Println("FAIL", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		uid := fmt.Sprintf("04%012X", n%50)
		rec := &Record{UID: uid, Profile: "p", Op: OpProvision, State: StateInProgress,
			Steps: map[string]StepState{fmt.Sprintf("step_%d", n): {Status: StepDone}}}
		if err := j.Save(context.Background(), rec); err != nil {
			fmt.Println("FAIL", err)
			os.Exit(2)
		}
		fmt.Printf("ACK %d %s\n", n, uid)
	}
	os.Exit(0)
}

// TestJournalSurvivesKill kills a writer with SIGKILL mid-stream and
// requires every record it acknowledged to be there, intact.
func TestJournalSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test in -short mode")
	}
	path := filepath.Join(t.TempDir(), "provision.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperJournalWriter$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last := map[string]int{}
	sc := bufio.NewScanner(out)
	acks := 0
	for sc.Scan() && acks < 300 {
		var n int
		var uid string
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d %s", &n, &uid); err != nil {
			if strings.HasPrefix(sc.Text(), "FAIL") {
				t.Fatal(sc.Text())
			}
			continue
		}
		last[uid] = n
		acks++
	}
	cmd.Process.Kill()
	cmd.Wait()
	j, err := OpenJournal(path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	for uid, n := range last {
		b, _ := hex.DecodeString(uid)
		r, err := j.Load(ctx, b)
		if err != nil || r == nil {
			t.Fatalf("record %s lost after kill -9: %v", uid, err)
		}
		// The record may be newer than the last ACK read, never older.
		var got int
		for step := range r.Steps {
			fmt.Sscanf(step, "step_%d", &got)
		}
		if got < n {
			t.Errorf("record %s went back from step %d to %d", uid, n, got)
		}
	}
	t.Logf("%d acknowledged saves, %d records checked after SIGKILL", acks, len(last))
}
