package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nfcd/nfcd/internal/batch"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
)

var verifyCmd = &command{
	name:    "verify",
	summary: "verify SUN URLs offline (or JSON Lines with --batch)",
	synopsis: `nfcd verify [--profile FILE | key flags] [--json] URL...
nfcd verify --batch [--profile FILE] < requests.jsonl > results.jsonl`,
	about: `Verifies the SUN message (uid/ctr/cmac, picc_data, enc) of each URL locally
and prints the verdict (authentic, counterfeit, malformed, unknown_profile)
with its reason code. Keys default to the factory all-zero keys; prefer
--profile FILE over key flags so that keys stay out of shell history.
Exit status: 0 when every URL is authentic, 1 otherwise, 2 usage.

--batch reads one JSON request per line and writes one JSON result per line
(see the README); lines without a layout use --profile.`,
	example:      `nfcd verify --mode enc 'https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086'`,
	maxArgs:      -1,
	interspersed: true,
}

func init() {
	var kf keyFlags
	var asJSON, batchMode bool
	verifyCmd.flags = func(fs *flag.FlagSet) {
		kf.register(fs)
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per URL")
		fs.BoolVar(&batchMode, "batch", false, "read JSON Lines requests on stdin, write JSON Lines results")
	}
	verifyCmd.run = func(e *env, urls []string) error {
		if batchMode {
			if len(urls) > 0 {
				return usageError("--batch reads stdin and takes no URL arguments")
			}
			v := batch.NewVerifier()
			if kf.profileFile != "" {
				set, err := profile.Load(kf.profileFile)
				if err != nil {
					return err
				}
				v.Profiles = set
			}
			return v.Run(e.stdin, e.stdout)
		}
		if len(urls) == 0 {
			return usageError("no URL to verify")
		}
		set, err := kf.profiles()
		if err != nil {
			return err
		}
		return verifyURLs(e.stdout, set, urls, asJSON)
	}
}

// keyFlags are the layout and key flags shared by verify, watch and vtag.
type keyFlags struct {
	profileFile   string
	mode          string
	crypto        string
	fileKey       string
	metaKey       string
	macInputStart string
	names         string
}

func (k *keyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.profileFile, "profile", "", "TOML profile `file` with layouts and keys (instead of the flags below)")
	fs.StringVar(&k.mode, "mode", "plain", "SUN mirror `mode`: plain, enc (encrypted PICCData) or encfile (PICCData + SDMENCFileData)")
	fs.StringVar(&k.crypto, "crypto", "aes", "cipher `suite`: aes or lrp")
	fs.StringVar(&k.fileKey, "file-key", "", "SDMFileReadKey, 32 `hex` digits (default all zero)")
	fs.StringVar(&k.metaKey, "meta-key", "", "SDMMetaReadKey, 32 `hex` digits (default all zero)")
	fs.StringVar(&k.macInputStart, "mac-input-start", "cmac", "the parameter `name` whose value starts the SDMMAC input: cmac for an empty\ninput (the usual case); for encfile layouts that MAC the mirrored data, the\nfirst mirrored parameter, e.g. picc_data")
	fs.StringVar(&k.names, "names", "", "parameter names the tag uses, as `list` role=name,…, e.g. picc_data=e,cmac=c\n(roles: uid, ctr, cmac, picc_data, enc, tt)")
}

// profiles returns the profile set the flags describe.
func (k *keyFlags) profiles() (profile.Set, error) {
	if k.profileFile != "" {
		return profile.Load(k.profileFile)
	}
	spec := profile.Spec{
		LayoutSpec:  ntag424.LayoutSpec{Mode: k.mode, Crypto: k.crypto, MACInputStart: k.macInputStart},
		FileReadKey: k.fileKey,
		MetaReadKey: k.metaKey,
	}
	if err := parseNames(k.names, &spec.Names); err != nil {
		return nil, err
	}
	p, err := spec.Compile(true)
	if err != nil {
		return nil, err
	}
	return profile.Set{p}, nil
}

// parseNames sets the parameter names of --names.
func parseNames(list string, n *ntag424.Names) error {
	if list == "" {
		return nil
	}
	for _, kv := range strings.Split(list, ",") {
		role, name, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return usageError("--names: want role=name pairs separated by commas, got %q", kv)
		}
		var dst *string
		switch role {
		case "uid":
			dst = &n.UID
		case "ctr":
			dst = &n.Ctr
		case "cmac":
			dst = &n.CMAC
		case "picc_data":
			dst = &n.PICCData
		case "enc":
			dst = &n.Enc
		case "tt":
			dst = &n.TT
		default:
			return usageError("--names: unknown role %q (uid, ctr, cmac, picc_data, enc, tt)", role)
		}
		*dst = name
	}
	return nil
}

// verifyOutput is the --json form of one URL's result. Like a batch result
// line, uid and ctr (null for tags that mirror no counter) appear only when
// the URL verifies.
type verifyOutput struct {
	URL         string           `json:"url"`
	Profile     string           `json:"profile,omitempty"`
	Verdict     string           `json:"verdict"`
	Valid       bool             `json:"valid"`
	Reason      string           `json:"reason"`
	Detail      string           `json:"detail,omitempty"`
	UID         string           `json:"uid,omitempty"`
	Ctr         *ntag424.Counter `json:"ctr,omitempty"`
	TTStatus    string           `json:"tt_status,omitempty"`
	FileData    string           `json:"file_data,omitempty"`
	PICCDataTag string           `json:"picc_data_tag,omitempty"`
}

func newVerifyOutput(url string, o profile.Outcome) verifyOutput {
	out := verifyOutput{URL: url, Profile: o.Profile, Verdict: o.Verdict, Valid: o.Authentic(), Reason: o.Reason, Detail: o.Detail}
	if !out.Valid {
		return out
	}
	r := &o.Result
	out.UID = ntag424.Hex(r.UID[:])
	out.Ctr = &r.Ctr
	if r.HasTT {
		out.TTStatus = string(r.TT[:])
	}
	if fd := r.FileData(); fd != nil {
		out.FileData = ntag424.Hex(fd)
	}
	if r.HasPICCDataTag {
		out.PICCDataTag = fmt.Sprintf("%02X", r.PICCDataTag)
	}
	return out
}

func verifyURLs(w io.Writer, set profile.Set, urls []string, asJSON bool) error {
	allValid := true
	for _, url := range urls {
		out := newVerifyOutput(url, set.Verify(url))
		allValid = allValid && out.Valid
		if asJSON {
			b, err := marshalNoEscape(out)
			if err != nil {
				return err
			}
			w.Write(append(b, '\n'))
			continue
		}
		printReadable(w, out)
	}
	if !allValid {
		return errInvalid
	}
	return nil
}

func printReadable(w io.Writer, o verifyOutput) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", o.URL)
	fmt.Fprintf(&b, "  verdict  %s\n", o.Verdict)
	fmt.Fprintf(&b, "  reason   %s\n", o.Reason)
	if o.Detail != "" {
		fmt.Fprintf(&b, "  detail   %s\n", o.Detail)
	}
	if o.Profile != "" {
		fmt.Fprintf(&b, "  profile  %s\n", o.Profile)
	}
	if o.Valid {
		fmt.Fprintf(&b, "  uid      %s\n", o.UID)
		if o.Ctr.Valid {
			fmt.Fprintf(&b, "  counter  %d\n", o.Ctr.Value)
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
