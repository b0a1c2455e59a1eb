package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/health"
)

// System is the probes of this machine. ListReaders lists the PC/SC readers
// (the caller passes the pcsc package's, with its errors wrapped in
// ErrNoService or ErrDenied), so that this package needs no cgo.
type System struct {
	ListReaders func(ctx context.Context) ([]string, error)
	// Client fetches the health check and the remote Date; nil means a
	// client without proxies' surprises beyond the environment's.
	Client *http.Client
}

var _ Probes = (*System)(nil)

// Readers lists the readers through ListReaders.
func (s *System) Readers(ctx context.Context) ([]string, error) {
	if s.ListReaders == nil {
		return nil, errors.New("no PC/SC access in this build")
	}
	return s.ListReaders(ctx)
}

func (s *System) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return http.DefaultClient
}

// Listen tries to listen on addr. When that fails and something answers
// there, it asks for /healthz to tell a running nfcd from another program.
func (s *System) Listen(ctx context.Context, addr string) (PortState, error) {
	ln, lerr := net.Listen("tcp", addr)
	if lerr == nil {
		ln.Close()
		return PortFree, nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return PortFree, lerr // nothing listens, yet we cannot: report why
	}
	conn.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return PortOther, nil
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return PortOther, nil
	}
	defer resp.Body.Close()
	var doc struct {
		Service string `json:"service"`
	}
	if json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<16)).Decode(&doc) == nil && doc.Service == health.ServiceName {
		return PortNfcd, nil
	}
	return PortOther, nil
}

// Config checks the configuration file as `nfcd config check` does: every
// error, with its line and fix.
func (s *System) Config(path string) ConfigInfo {
	var ci ConfigInfo
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ci
	}
	ci.Exists = true
	if err != nil {
		ci.Errors = []error{err}
		return ci
	}
	ci.Mode = st.Mode()
	cfg, r := config.Check(path)
	for _, p := range r.Errors() {
		ci.Errors = append(ci.Errors, problemError{path, p})
	}
	if len(ci.Errors) > 0 {
		return ci
	}
	ci.Listen, ci.AllowedOrigins, ci.HoldsKeys = cfg.Listen, cfg.AllowedOrigins, cfg.HoldsKeys()
	return ci
}

// problemError is a configuration problem as an error: "FILE: line N: what
// is wrong (fix: …)".
type problemError struct {
	file string
	p    config.Problem
}

func (e problemError) Error() string {
	s := e.file + ": " + e.p.String()
	if e.p.Fix != "" {
		s += " (fix: " + e.p.Fix + ")"
	}
	return s
}

// Dir inspects a directory.
func (s *System) Dir(path string) (DirInfo, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DirInfo{}, nil
	}
	if err != nil {
		return DirInfo{}, err
	}
	return DirInfo{Exists: true, IsDir: st.IsDir(), Mode: st.Mode(), Owner: owner(st)}, nil
}

// RemoteDate sends HEAD url and returns its Date header with the local
// time halfway through the exchange.
func (s *System) RemoteDate(ctx context.Context, url string) (remote, local time.Time, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return remote, local, err
	}
	start := time.Now()
	resp, err := s.client().Do(req)
	if err != nil {
		return remote, local, err
	}
	resp.Body.Close()
	end := time.Now()
	remote, err = http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return remote, local, fmt.Errorf("no usable Date header")
	}
	return remote, start.Add(end.Sub(start) / 2), nil
}
