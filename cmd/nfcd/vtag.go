package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
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

const vtagUsage = `Usage: nfcd vtag [flags]

Presents a virtual NTAG 424 DNA to the vsmartcard vpcd reader of a running
pcscd (slot "Virtual PCD 00 00" on port 35963, "Virtual PCD 00 01" on 35964).
The tag mirrors a fresh SUN message per tap, exactly as a real tag does.

Flags:
`

func runVTag(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vtag", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, vtagUsage); fs.PrintDefaults() }
	var kf keyFlags
	kf.register(fs)
	addr := fs.String("addr", vpcd.DefaultAddr, "vpcd `host:port`")
	port := fs.Int("port", 0, "vpcd port on 127.0.0.1 (35964 = second slot); overrides --addr")
	url := fs.String("url", "https://sdm.example/tag", "URL the SUN parameters are appended to")
	uidHex := fs.String("uid", "", "tag UID, 14 hex digits (default 04518DFAA96180, which carries a genuine NXP signature)")
	counter := fs.Uint("counter", 0, "SDMReadCtr before the first tap")
	tt := fs.String("tt", "CC", "TagTamper status (2 characters) for layouts that mirror it")
	fileData := fs.String("file-data", "", "SDMENCFileData plaintext, hex, a multiple of 16 bytes (encfile mode)")
	taps := fs.Int("taps", 1, "number of taps (0 = until interrupted)")
	dwell := fs.Duration("dwell", vtag.DefaultDwell, "time in the field per tap")
	gap := fs.Duration("gap", 500*time.Millisecond, "time between taps")
	hold := fs.Bool("hold", false, "keep the tag in the field until interrupted")
	counterfeit := fs.Bool("counterfeit", false, "sign with a wrong key (verification fails with bad_mac)")
	replay := fs.Bool("replay", false, "serve each counter and MAC twice")
	noSUN := fs.Bool("no-sun", false, "serve a plain NDEF URL without SUN parameters")
	fault := fs.String("fault", "", "broken responses: 6A82, 6982, 6700, short or removed")
	record := fs.String("record", "", "write one APDU transcript per tap into `dir`")
	verbose := fs.Bool("v", false, "log each tap to stderr")
	if ok, err := parseFlags(fs, args, 0); !ok {
		return err
	}
	cfg := vtag.Config{URL: *url, Counter: uint32(*counter), Counterfeit: *counterfeit, Replay: *replay, NoSUN: *noSUN, Rand: rand.Reader}
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
	var err error
	if cfg.Layout, cfg.Keys, err = spec.Parts(true); err != nil {
		return err
	}
	if *uidHex != "" {
		b, err := hex.DecodeString(*uidHex)
		if err != nil || len(b) != ntag424.UIDLen {
			return fmt.Errorf("vtag: --uid: want %d hex digits", 2*ntag424.UIDLen)
		}
		cfg.UID = [ntag424.UIDLen]byte(b)
	}
	if len(*tt) != 2 {
		return fmt.Errorf("vtag: --tt: want 2 characters")
	}
	cfg.TT = [2]byte{(*tt)[0], (*tt)[1]}
	if *fileData != "" {
		if cfg.FileData, err = hex.DecodeString(*fileData); err != nil {
			return fmt.Errorf("vtag: --file-data: not hex")
		}
	} else if cfg.Layout.Mode == ntag424.ModeEncFile {
		cfg.FileData = []byte("nfcd virtual tag")
	}
	if *fault != "" {
		if cfg.Fault, err = vtag.ParseFault(*fault); err != nil {
			return err
		}
	}
	card, err := vtag.New(cfg)
	if err != nil {
		return err
	}
	if *port != 0 {
		*addr = "127.0.0.1:" + strconv.Itoa(*port)
	}
	level := zapcore.WarnLevel
	if *verbose {
		level = zapcore.DebugLevel
	}
	log := newCLILogger(stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = vtag.Run(ctx, *addr, card, vtag.TapOptions{Taps: *taps, Dwell: *dwell, Gap: *gap, Hold: *hold, Record: *record}, log)
	fmt.Fprintf(stdout, "vtag: %d taps, counter %d\n", card.Taps(), card.Counter())
	return err
}
