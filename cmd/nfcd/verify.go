package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nfcd/nfcd/internal/batch"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
)

const verifyUsage = `Usage: nfcd verify [flags] URL...
       nfcd verify --batch < requests.jsonl > results.jsonl

Verifies the SUN message (uid/ctr/cmac, picc_data, enc) of each URL locally.
Keys default to the factory all-zero keys; prefer --profile FILE over key
flags so that keys stay out of shell history. Exit status: 0 when every URL
verifies, 1 otherwise.

Flags:
`

// keyFlags are the layout and key flags shared by verify, watch and run.
type keyFlags struct {
	profileFile   string
	mode          string
	crypto        string
	fileKey       string
	metaKey       string
	macInputStart string
}

func (k *keyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.profileFile, "profile", "", "TOML profile `file` with layouts and keys (overrides the flags below)")
	fs.StringVar(&k.mode, "mode", "plain", "SUN mirror mode: plain, enc or encfile")
	fs.StringVar(&k.crypto, "crypto", "aes", "cipher suite: aes or lrp")
	fs.StringVar(&k.fileKey, "file-key", "", "SDMFileReadKey, 32 `hex` digits (default all zero)")
	fs.StringVar(&k.metaKey, "meta-key", "", "SDMMetaReadKey, 32 `hex` digits (default all zero)")
	fs.StringVar(&k.macInputStart, "mac-input-start", "cmac", "parameter `name` whose value starts the SDMMAC input")
}

// profiles returns the profile set the flags describe.
func (k *keyFlags) profiles() (profile.Set, error) {
	if k.profileFile != "" {
		return profile.Load(k.profileFile)
	}
	spec := profile.Spec{
		Name:        "flags",
		LayoutSpec:  ntag424.LayoutSpec{Mode: k.mode, Crypto: k.crypto, MACInputStart: k.macInputStart},
		FileReadKey: k.fileKey,
		MetaReadKey: k.metaKey,
	}
	p, err := spec.Compile(true)
	if err != nil {
		return nil, err
	}
	return profile.Set{p}, nil
}

// verifyOutput is the --json form of one URL's result. Like a batch result
// line, uid and ctr (null for tags that mirror no counter) appear only when
// the URL verifies.
type verifyOutput struct {
	URL         string
	Profile     string
	Valid       bool
	Reason      string
	UID         string
	Ctr         *uint32
	TTStatus    string
	FileData    string
	PICCDataTag string
}

func (o verifyOutput) MarshalJSON() ([]byte, error) {
	type invalid struct {
		URL     string `json:"url"`
		Profile string `json:"profile,omitempty"`
		Valid   bool   `json:"valid"`
		Reason  string `json:"reason"`
	}
	if !o.Valid {
		return marshalNoEscape(invalid{o.URL, o.Profile, false, o.Reason})
	}
	return marshalNoEscape(struct {
		invalid
		UID         string  `json:"uid"`
		Ctr         *uint32 `json:"ctr"`
		TTStatus    string  `json:"tt_status,omitempty"`
		FileData    string  `json:"file_data,omitempty"`
		PICCDataTag string  `json:"picc_data_tag,omitempty"`
	}{invalid{o.URL, o.Profile, true, o.Reason}, o.UID, o.Ctr, o.TTStatus, o.FileData, o.PICCDataTag})
}

func runVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, verifyUsage); fs.PrintDefaults() }
	var kf keyFlags
	kf.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per URL")
	batchMode := fs.Bool("batch", false, "read JSON Lines requests on stdin, write JSON Lines results")
	urls, err := parseInterspersed(fs, args)
	if err != nil || urls == nil {
		return err
	}
	if *batchMode {
		if len(urls) > 0 {
			fmt.Fprintln(stderr, "nfcd verify: --batch reads stdin and takes no URL arguments")
			return errUsage
		}
		return batch.NewVerifier().Run(stdin, stdout)
	}
	if len(urls) == 0 {
		fs.Usage()
		return errUsage
	}
	set, err := kf.profiles()
	if err != nil {
		return err
	}
	allValid := true
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, url := range urls {
		out := verifyOne(set, url)
		allValid = allValid && out.Valid
		if *asJSON {
			if err := enc.Encode(out); err != nil {
				return err
			}
			continue
		}
		printReadable(stdout, out)
	}
	if !allValid {
		return errInvalid
	}
	return nil
}

func verifyOne(set profile.Set, url string) verifyOutput {
	out := verifyOutput{URL: url}
	p, err := set.Match(url)
	if err != nil {
		out.Reason = "unknown_profile"
		return out
	}
	out.Profile = p.Name
	r, err := p.Verify(url)
	out.Reason = ntag424.Reason(err)
	if err != nil {
		return out
	}
	out.Valid = true
	out.UID = fmt.Sprintf("%X", r.UID)
	if r.HasCtr {
		out.Ctr = &r.Ctr
	}
	if r.HasTT {
		out.TTStatus = string(r.TT[:])
	}
	if fd := r.FileData(); fd != nil {
		out.FileData = fmt.Sprintf("%X", fd)
	}
	if r.HasPICCDataTag {
		out.PICCDataTag = fmt.Sprintf("%02X", r.PICCDataTag)
	}
	return out
}

func printReadable(w io.Writer, o verifyOutput) {
	verdict := "INVALID"
	if o.Valid {
		verdict = "VALID"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", o.URL)
	fmt.Fprintf(&b, "  verdict  %s\n", verdict)
	fmt.Fprintf(&b, "  reason   %s\n", o.Reason)
	if o.Valid {
		fmt.Fprintf(&b, "  uid      %s\n", o.UID)
		if o.Ctr != nil {
			fmt.Fprintf(&b, "  counter  %d\n", *o.Ctr)
		} else {
			fmt.Fprintf(&b, "  counter  (not mirrored)\n")
		}
		if o.TTStatus != "" {
			fmt.Fprintf(&b, "  tamper   %s\n", o.TTStatus)
		}
		if o.FileData != "" {
			fmt.Fprintf(&b, "  file     %s\n", o.FileData)
		}
	}
	io.WriteString(w, b.String())
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments (`nfcd verify URL --json` works too), and
// returns the positional arguments: a non-nil empty slice when there are
// none, nil after -h.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	pos := []string{}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" || fs.NArg() == len(args) && args[0] == "-" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// marshalNoEscape is json.Marshal without HTML escaping: URLs keep their '&'.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
