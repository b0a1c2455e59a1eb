package legitimatetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/BurntSushi/toml"
	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/profile"
)

// Server is a Fake behind an httptest.Server.
type Server struct {
	*Fake
	HTTP *httptest.Server
	// URL is the API base URL for a client: the server URL + BasePath.
	URL string
}

// NewServer starts a plain-HTTP fake on loopback with the tags. It panics
// on a bad tag, as httptest does on a listen failure: it is for tests.
func NewServer(opts Options, tags ...Tag) *Server {
	return start(opts, false, tags)
}

// NewTLSServer is NewServer over HTTPS; HTTP.Client() trusts it.
func NewTLSServer(opts Options, tags ...Tag) *Server {
	return start(opts, true, tags)
}

func start(opts Options, tls bool, tags []Tag) *Server {
	f := New(opts)
	for _, t := range tags {
		if err := f.AddTag(t); err != nil {
			panic(err)
		}
	}
	hs := httptest.NewUnstartedServer(f)
	// Handshake failures are test cases here, not news.
	hs.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	if tls {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	return &Server{Fake: f, HTTP: hs, URL: hs.URL + BasePath}
}

// Close shuts the server down, closing every connection.
func (s *Server) Close() {
	s.HTTP.CloseClientConnections()
	s.HTTP.Close()
}

// The tags file (TOML) lists the fake's tags and users:
//
//	[[tag]]
//	uid = "041E3C8A2D6B80"                        # 14 hex digits
//	key = "00000000000000000000000000000000"      # SDMFileReadKey, 32 hex digits
//	counter = 0                                   # highest counter already accepted
//	name = "Demo sneaker"
//	description = "…"
//	image_url = "https://…"
//	sku_id = 1
//	serial_number = 1
//	nft_chain_id = 137
//	nft_contract_address = "0x…"
//	nft_token_id = 1
//	claimable = true
//	recover_enabled = true
//	owner = ""                                    # wallet; "" = held by Legitimate
//
//	[[user]]
//	email = "someone@example.com"                 # for marketing_consent
//
// Every key but uid and key is optional. Errors name the tag, never the
// key.
type tagsFile struct {
	Tag []struct {
		UID                string `toml:"uid"`
		Key                string `toml:"key"`
		Counter            uint32 `toml:"counter"`
		Name               string `toml:"name"`
		Description        string `toml:"description"`
		ImageURL           string `toml:"image_url"`
		SKUID              int64  `toml:"sku_id"`
		SerialNumber       int64  `toml:"serial_number"`
		NFTChainID         int64  `toml:"nft_chain_id"`
		NFTContractAddress string `toml:"nft_contract_address"`
		NFTTokenID         int64  `toml:"nft_token_id"`
		Claimable          bool   `toml:"claimable"`
		RecoverEnabled     bool   `toml:"recover_enabled"`
		Owner              string `toml:"owner"`
	} `toml:"tag"`
	User []struct {
		Email string `toml:"email"`
	} `toml:"user"`
}

// ParseTags decodes a tags file; name is used in errors.
func ParseTags(name string, b []byte) (tags []Tag, users []string, err error) {
	var tf tagsFile
	md, err := toml.Decode(string(b), &tf)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, nil, fmt.Errorf("legitimatetest: %s: invalid TOML at line %d", name, pe.Position.Line)
		}
		return nil, nil, fmt.Errorf("legitimatetest: %s: invalid tags file", name)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, nil, fmt.Errorf("legitimatetest: %s: unknown key %q", name, und[0].String())
	}
	for i, t := range tf.Tag {
		key, err := profile.ParseKey("key", t.Key, false)
		if err != nil {
			return nil, nil, fmt.Errorf("legitimatetest: %s: tag #%d: %w", name, i+1, err)
		}
		tags = append(tags, Tag{
			UID: t.UID, Key: key, Counter: t.Counter, Name: t.Name, Description: t.Description,
			ImageURL: t.ImageURL, SKUID: t.SKUID, SerialNumber: t.SerialNumber, NFTChainID: t.NFTChainID,
			NFTContractAddress: t.NFTContractAddress, NFTTokenID: t.NFTTokenID, Claimable: t.Claimable,
			RecoverEnabled: t.RecoverEnabled, Owner: t.Owner,
		})
		if err := New(Options{}).AddTag(tags[i]); err != nil {
			return nil, nil, fmt.Errorf("legitimatetest: %s: tag #%d: %w", name, i+1, err)
		}
	}
	for _, u := range tf.User {
		users = append(users, u.Email)
	}
	return tags, users, nil
}

// LoadTags reads a tags file.
func LoadTags(path string) ([]Tag, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("legitimatetest: %w", err)
	}
	return ParseTags(path, b)
}

// ListenAndServe serves a fake with the tags and users of tagsFile on addr
// (plain HTTP: a client accepts http:// only for loopback) until ctx is
// done; cancellation is not an error. It is `nfcd fake legitimate`.
func ListenAndServe(ctx context.Context, addr, tagsFile string, log *zap.Logger) error {
	tags, users, err := LoadTags(tagsFile)
	if err != nil {
		return err
	}
	f := New(Options{})
	for _, t := range tags {
		if err := f.AddTag(t); err != nil {
			return err
		}
	}
	for _, u := range users {
		f.AddUser(u)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("legitimatetest: %w", err)
	}
	log = log.Named("fake-legitimate")
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(log)}
	log.Info("listening", zap.String("base_url", "http://"+ln.Addr().String()+BasePath), zap.Int("tags", len(tags)))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("legitimatetest: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	<-errc
	return nil
}
