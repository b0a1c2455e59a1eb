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
	"github.com/nfcd/nfcd/internal/verdict"
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
		return verifyURLs(e.stdout, set, urls, asJSON, kf.modeHint)
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
	fs.StringVar(&k.mode, "mode", "plain", "SUN mirror `mode`: plain, enc (encrypted PICCData) or encfile (PICCData +\nSDMENCFileData; needs --mac-input-start, since the file data is authenticated\nonly inside the MAC input)")
	fs.StringVar(&k.crypto, "crypto", "aes", "cipher `suite`: aes or lrp")
	fs.StringVar(&k.fileKey, "file-key", "", "SDMFileReadKey, 32 `hex` digits (default all zero)")
	fs.StringVar(&k.metaKey, "meta-key", "", "SDMMetaReadKey, 32 `hex` digits (default all zero)")
	fs.StringVar(&k.macInputStart, "mac-input-start", "cmac", "the parameter `name` whose value starts the SDMMAC input: cmac for an empty\ninput (the usual case for plain and enc); --mode encfile needs the first\nmirrored parameter, e.g. picc_data, because only data inside the MAC input\nis authenticated")
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
		return nil, keyFlagError(err)
	}
	return profile.Set{p}, nil
}

// encfileMACInput explains why --mode encfile needs --mac-input-start.
const encfileMACInput = `--mode encfile: the tag mirrors encrypted file data (enc), and only data
inside the SDMMAC input is authenticated, so the MAC input must start at the
first mirrored parameter: add --mac-input-start picc_data (or the name your
tag's first SUN parameter has). The default, cmac, is an empty MAC input.`

// keyFlagError turns a layout or key error of the key flags into a usage
// error that names the flag at fault.
func keyFlagError(err error) error {
	var fe *ntag424.FormatError
	var ke *profile.KeyError
	switch {
	case errors.As(err, &fe):
		switch fe.Field {
		case "mode", "crypto":
			return usageError("--%s: %s", fe.Field, fe.Msg)
		case "enc":
			return usageError("%s", encfileMACInput)
		case "mac_input_start":
			return usageError("--mac-input-start: %s", fe.Msg)
		}
		return usageError("layout %s: %s", fe.Field, fe.Msg)
	case errors.As(err, &ke):
		switch ke.Field {
		case "sdm_file_read_key":
			return usageError("--file-key: %s", ke.Msg)
		case "sdm_meta_read_key":
			return usageError("--meta-key: %s", ke.Msg)
		}
	}
	return err
}

// modeHint suggests another --mode when a URL is malformed under the one
// given but carries the parameters of another; "" when there is nothing
// to suggest.
func (k *keyFlags) modeHint(url string, o profile.Outcome) string {
	if k.profileFile != "" || o.Reason != verdict.ReasonBadFormat {
		return ""
	}
	has := func(param string) bool {
		_, q, _ := strings.Cut(url, "?")
		for _, kv := range strings.Split(q, "&") {
			if name, _, _ := strings.Cut(kv, "="); name == param {
				return true
			}
		}
		return false
	}
	switch {
	case k.mode == "plain" && has("picc_data"):
		return "the URL carries encrypted PICCData: try --mode enc"
	case k.mode == "plain" && has("e") && has("c"):
		return "the URL looks like encrypted PICCData as e= and c=: try --mode enc --names picc_data=e,cmac=c"
	case k.mode != "plain" && has("uid") && has("cmac"):
		return "the URL carries a plain UID: try --mode plain"
	}
	return ""
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

// verifyURLs verifies urls and prints each result; hint may add a line
// for people to a readable result.
func verifyURLs(w io.Writer, set profile.Set, urls []string, asJSON bool, hint func(string, profile.Outcome) string) error {
	allValid := true
	for _, url := range urls {
		o := set.Verify(url)
		out := newVerifyOutput(url, o)
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
		if hint := hint(url, o); hint != "" {
			fmt.Fprintf(w, "  hint     %s\n", hint)
		}
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
