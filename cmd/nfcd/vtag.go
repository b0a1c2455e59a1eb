package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vtag"
)

var vtagCmd = &command{
	name:     "vtag",
	summary:  "present a virtual NTAG 424 DNA to the vpcd reader of a running pcscd",
	synopsis: "nfcd vtag [--profile FILE | key flags] [--taps N] [--counterfeit|--replay|--no-sun|--fault KIND] [flags]",
	about: `Presents a virtual NTAG 424 DNA to the vsmartcard vpcd reader of a running
pcscd (slot "Virtual PCD 00 00" on port 35963, "Virtual PCD 00 01" on 35964).
The tag mirrors a fresh SUN message per tap, exactly as a real tag does.`,
	example: "nfcd vtag --mode enc --taps 5 --dwell 600ms --gap 500ms\nnfcd vtag --blank --hold --port 35964   # a blank tag for nfcd tag provision",
	maxArgs: 0,
}

func init() {
	var f vtagFlags
	vtagCmd.flags = f.register
	vtagCmd.run = func(e *env, _ []string) error { return f.run(e) }
}

// vtagFlags are the flags of nfcd vtag.
type vtagFlags struct {
	kf                               keyFlags
	addr, url, uidHex, tt, fileData  string
	fault, record                    string
	port, taps                       int
	counter                          uint
	dwell, gap                       time.Duration
	hold, counterfeit, replay, noSUN bool
	verbose, blank                   bool
}

func (f *vtagFlags) register(fs *flag.FlagSet) {
	f.kf.register(fs)
	fs.StringVar(&f.addr, "addr", vpcd.DefaultAddr, "vpcd `host:port`")
	fs.IntVar(&f.port, "port", 0, "vpcd `port` on 127.0.0.1 (35964 = second slot); overrides --addr")
	fs.StringVar(&f.url, "url", "https://sdm.example/tag", "`URL` the SUN parameters are appended to")
	fs.StringVar(&f.uidHex, "uid", "", "tag `UID`, 14 hex digits (default 04518DFAA96180, which carries a genuine NXP signature)")
	fs.UintVar(&f.counter, "counter", 0, "SDMReadCtr before the first tap")
	fs.StringVar(&f.tt, "tt", "CC", "TagTamper `status` (2 characters) for layouts that mirror it")
	fs.StringVar(&f.fileData, "file-data", "", "SDMENCFileData plaintext, `hex`, a multiple of 16 bytes (encfile mode)")
	fs.IntVar(&f.taps, "taps", 1, "number of taps (0 = until interrupted)")
	fs.DurationVar(&f.dwell, "dwell", vtag.DefaultDwell, "time in the field per tap")
	fs.DurationVar(&f.gap, "gap", 500*time.Millisecond, "time between taps")
	fs.BoolVar(&f.hold, "hold", false, "keep the tag in the field until interrupted")
	fs.BoolVar(&f.blank, "blank", false, "a factory-fresh tag (zero keys, no SDM, empty NDEF file) to personalise with nfcd tag provision")
	fs.BoolVar(&f.counterfeit, "counterfeit", false, "sign with a wrong key (verification fails with bad_mac)")
	fs.BoolVar(&f.replay, "replay", false, "serve each counter and MAC twice")
	fs.BoolVar(&f.noSUN, "no-sun", false, "serve a plain NDEF URL without SUN parameters")
	fs.StringVar(&f.fault, "fault", "", "broken responses: `kind` 6A82, 6982, 6700, short or removed")
	fs.StringVar(&f.record, "record", "", "write one APDU transcript per tap into `dir`")
	fs.BoolVar(&f.verbose, "v", false, "log each tap to stderr")
}

func (f *vtagFlags) run(e *env) error {
	kf := &f.kf
	cfg := vtag.Config{URL: f.url, Counter: uint32(f.counter), Counterfeit: f.counterfeit, Replay: f.replay, NoSUN: f.noSUN, Blank: f.blank, Rand: rand.Reader}
	spec := profile.Spec{
		LayoutSpec:  ntag424.LayoutSpec{Mode: kf.mode, Crypto: kf.crypto, MACInputStart: kf.macInputStart},
		FileReadKey: kf.fileKey,
		MetaReadKey: kf.metaKey,
	}
	if kf.profileFile != "" {
		specs, err := profile.LoadSpecs(kf.profileFile)
		if err != nil {
			return err
		}
		spec = specs[0]
	}
	if f.taps < 0 || f.dwell < 0 || f.gap < 0 {
		return usageError("--taps, --dwell and --gap must not be negative (--taps 0 taps until interrupted)")
	}
	var err error
	if kf.profileFile == "" {
		// The same checks as verify: a layout the daemon could not verify
		// makes a useless tag.
		if _, err := spec.Compile(true); err != nil {
			return keyFlagError(err)
		}
	}
	if cfg.Layout, cfg.Keys, err = spec.Parts(true); err != nil {
		return err
	}
	if f.uidHex != "" {
		b, err := hex.DecodeString(f.uidHex)
		if err != nil || len(b) != ntag424.UIDLen {
			return usageError("--uid: want %d hex digits", 2*ntag424.UIDLen)
		}
		cfg.UID = [ntag424.UIDLen]byte(b)
	}
	if len(f.tt) != 2 {
		return usageError("--tt: want 2 characters")
	}
	cfg.TT = [2]byte{f.tt[0], f.tt[1]}
	if f.fileData != "" {
		if cfg.FileData, err = hex.DecodeString(f.fileData); err != nil {
			return usageError("--file-data: not hex")
		}
	} else if cfg.Layout.Mode == ntag424.ModeEncFile {
		cfg.FileData = []byte("nfcd virtual tag")
	}
	if f.fault != "" {
		if cfg.Fault, err = vtag.ParseFault(f.fault); err != nil {
			return usageError("--fault %q: want 6A82, 6982, 6700, short or removed", f.fault)
		}
	}
	card, err := vtag.New(cfg)
	if err != nil {
		return err
	}
	addr := f.addr
	if f.port != 0 {
		addr = "127.0.0.1:" + strconv.Itoa(f.port)
	}
	level := zapcore.WarnLevel
	if f.verbose {
		level = zapcore.DebugLevel
	}
	log := newCLILogger(e.stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = vtag.Run(ctx, addr, card, vtag.TapOptions{Taps: f.taps, Dwell: f.dwell, Gap: f.gap, Hold: f.hold, Record: f.record}, log)
	fmt.Fprintf(e.stdout, "vtag: %d taps, counter %d\n", card.Taps(), card.Counter())
	return err
}
