package store

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashEnv names the database the helper writer process should use.
const crashEnv = "NFCD_STORE_CRASH_DB"

// crashNoCheckpointEnv makes the helper writer keep every batch in the
// replay journal: nothing reaches bbolt before the kill.
const crashNoCheckpointEnv = "NFCD_STORE_CRASH_NO_CHECKPOINT"

const crashUIDs = 37

func crashUID(i int) []byte {
	return []byte{0x04, byte(i), 0x8C, 0xAA, 0x5C, 0x5E, byte(i * 7)}
}

// TestHelperWriter is the child process of TestCrashDurability, not a test
// of its own. It streams CheckAndAdvance over many UIDs with increasing
// counters and prints "ACK <uid> <ctr>" only after the call has returned
// accepted, until it is killed.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashDurability")
	}
	if os.Getenv(crashNoCheckpointEnv) != "" {
		checkpointDelay = time.Hour
	}
	s, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Printf("FAIL open: %v\n", err)
		os.Exit(2)
	}
	next := make([]uint32, crashUIDs)
	for i := range next {
		hw, _, err := highWater(s, crashUID(i))
		if err != nil {
			fmt.Printf("FAIL high water: %v\n", err)
			os.Exit(2)
		}
		next[i] = hw + 1
	}
	// Bounded so that an orphaned helper stops by itself.
	deadline := time.Now().Add(30 * time.Second)
	w := bufio.NewWriterSize(os.Stdout, 0) // every line is its own write
	for n := 0; time.Now().Before(deadline); n++ {
		i := n % crashUIDs
		uid := crashUID(i)
		ctr := next[i]
		// Skip ahead now and then: gaps are normal.
		next[i] += 1 + uint32(n%3)
		ok, prev, err := checkAndAdvance(s, uid, ctr)
		if err != nil || !ok {
			fmt.Printf("FAIL CheckAndAdvance(%X, %d) = %v, %d, %v\n", uid, ctr, ok, prev, err)
			os.Exit(2)
		}
		fmt.Fprintf(w, "ACK %x %d\n", uid, ctr)
		w.Flush()
	}
	s.Close()
	os.Exit(0)
}

// TestCrashDurability kills a writer process with SIGKILL in the middle of
// a stream of taps and checks that the database opens cleanly and that no
// counter the writer saw accepted was lost.
func TestCrashDurability(t *testing.T) { testCrashDurability(t, false) }

// TestCrashDurabilityJournal is TestCrashDurability with the checkpoints
// held back: every acknowledged tap is only in the replay journal when the
// writer dies, so its marks survive only through the replay at Open.
func TestCrashDurabilityJournal(t *testing.T) { testCrashDurability(t, true) }

func testCrashDurability(t *testing.T, journalOnly bool) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	if os.Getenv(crashEnv) != "" {
		t.Skip("in helper process")
	}
	path := filepath.Join(t.TempDir(), "nfcd.db")
	const rounds = 10
	deadline := time.Now().Add(8 * time.Second)
	total := 0
	for round := range rounds {
		if time.Now().After(deadline) {
			t.Logf("stopping after %d rounds to stay within the time budget", round)
			break
		}
		acked, lines := crashRound(t, path, round, journalOnly)
		total += lines
		if journalOnly && lines > 0 {
			if batches, _ := journalRecords(t, path); len(batches) == 0 {
				t.Fatalf("round %d: no batch in the journal after the kill; want the acknowledged taps in it", round)
			}
		}

		s, err := Open(path, Options{Timeout: time.Second})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL: %v", round, err)
		}
		for uid, ctr := range acked {
			hw, found, err := highWater(s, []byte(uid))
			if err != nil || !found || hw < ctr {
				t.Errorf("round %d: HighWater(%X) = %d, %v, %v; the killed writer had seen %d accepted",
					round, uid, hw, found, err, ctr)
			}
			if ok, _, err := checkAndAdvance(s, []byte(uid), ctr); ok || err != nil {
				t.Errorf("round %d: replay of acknowledged (%X, %d) = %v, %v; want rejected", round, uid, ctr, ok, err)
			}
		}
		s.Close()
	}
	if total == 0 {
		t.Fatal("the writer never acknowledged a tap")
	}
	t.Logf("%d acknowledged taps checked", total)
}

// crashRound runs one helper writer and kills it, either after a random
// number of acknowledged taps or after a random delay. It returns the
// highest acknowledged counter per UID and the number of acknowledgements,
// including lines the helper wrote before it died but the parent had not
// read yet.
func crashRound(t *testing.T, path string, round int, journalOnly bool) (acked map[string]uint32, lines int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	if journalOnly {
		cmd.Env = append(cmd.Env, crashNoCheckpointEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAfterLines := -1
	if round%2 == 0 {
		killAfterLines = 20 + rand.IntN(300)
	} else {
		delay := time.Duration(100+rand.IntN(300)) * time.Millisecond
		timer := time.AfterFunc(delay, func() { cmd.Process.Kill() })
		defer timer.Stop()
	}
	// A guard against a helper that hangs instead of writing.
	guard := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer guard.Stop()

	acked = map[string]uint32{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "PASS" {
			continue
		}
		if f[0] != "ACK" || len(f) != 3 {
			t.Fatalf("round %d: helper wrote %q", round, line)
		}
		uid, err1 := hex.DecodeString(f[1])
		ctr, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			t.Fatalf("round %d: bad helper line %q", round, line)
		}
		acked[string(uid)] = max(acked[string(uid)], uint32(ctr))
		lines++
		if lines == killAfterLines {
			// SIGKILL on Unix, TerminateProcess on Windows: no deferred
			// code, no Close, whatever transaction is in flight is cut.
			cmd.Process.Kill()
		}
	}
	err = cmd.Wait()
	if err == nil {
		t.Fatalf("round %d: helper exited by itself; it was never killed", round)
	}
	t.Logf("round %d: killed after %d acknowledged taps (%v)", round, lines, err)
	return acked, lines
}
