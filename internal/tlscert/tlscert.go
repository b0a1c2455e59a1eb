// Package tlscert provides the certificate the daemon serves TLS with when
// it listens beyond loopback: the operator's (tls_cert and tls_key in the
// configuration), or a self-signed one the daemon makes in its state
// directory the first time it needs one.
//
// Clients on the network pin the self-signed certificate by its SHA-256
// fingerprint, which `nfcd key show` prints. The certificate and its key
// live in one PEM file (0600) that appears complete or not at all: it is
// written to a temporary file, fsynced and renamed into place, so there
// is never a certificate without its key, or a key whose certificate
// clients never saw. A copy of the certificate alone (0644) lets `nfcd key
// show` print the fingerprint without the key.
package tlscert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/atomicfile"
)

// Validity is how long a generated certificate is valid. Clients pin it
// by fingerprint, so a new one means new pins: it is made to outlast the
// kiosk.
const Validity = 10 * 365 * 24 * time.Hour

// ErrNoCertificate is returned by ReadFingerprint when the state directory
// holds no certificate.
var ErrNoCertificate = errors.New("tlscert: no TLS certificate")

// Load reads the operator's PEM certificate chain and private key.
func Load(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// The error can quote neither file's content; it names the files.
		return tls.Certificate{}, fmt.Errorf("tlscert: load %s and %s: %w", certFile, keyFile, err)
	}
	return c, nil
}

// Options are the names a generated certificate is made for.
type Options struct {
	// Hosts are DNS names; "localhost" is always included.
	Hosts []string
	// IPs are addresses; 127.0.0.1 and ::1 are always included.
	IPs []net.IP
	// Now and Rand are injected by tests (time.Now, crypto/rand).
	Now  func() time.Time
	Rand io.Reader
}

// Ensure returns the self-signed certificate at path (its key included),
// making it first when the file does not exist; created says it did. The
// certificate alone is also written to certPath (0644) when that copy is
// missing or differs. An existing file that does not hold a certificate
// and its key is an error, never replaced: clients have pinned it.
func Ensure(path, certPath string, opts Options) (cert tls.Certificate, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if b, err = generate(opts); err != nil {
			return tls.Certificate{}, false, err
		}
		if err := writeNew(path, b); err != nil {
			if !errors.Is(err, fs.ErrExist) {
				return tls.Certificate{}, false, err
			}
			// Another process made it meanwhile: use that one.
			if b, err = os.ReadFile(path); err != nil {
				return tls.Certificate{}, false, fmt.Errorf("tlscert: %w", err)
			}
		} else {
			created = true
		}
	case err != nil:
		return tls.Certificate{}, false, fmt.Errorf("tlscert: %w", err)
	}
	cert, err = tls.X509KeyPair(b, b)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("tlscert: %s does not hold a certificate and its key (move it away to make a new one; clients must then pin the new fingerprint): %w", path, err)
	}
	if err := writeCertCopy(certPath, cert.Certificate[0]); err != nil {
		return tls.Certificate{}, false, err
	}
	return cert, created, nil
}

// generate makes a self-signed ECDSA P-256 certificate and returns it and
// its key as PEM.
func generate(opts Options) ([]byte, error) {
	now, rnd := time.Now, opts.Rand
	if opts.Now != nil {
		now = opts.Now
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("tlscert: generate key: %w", err)
	}
	serial, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tlscert: serial: %w", err)
	}
	hosts := []string{"localhost"}
	for _, h := range opts.Hosts {
		if h != "" && !strings.EqualFold(h, "localhost") {
			hosts = append(hosts, strings.ToLower(h))
		}
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, ip := range opts.IPs {
		if ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
			ips = append(ips, ip)
		}
	}
	t := now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "nfcd " + hosts[len(hosts)-1]},
		NotBefore:             t.Add(-time.Hour),
		NotAfter:              t.Add(Validity),
		DNSNames:              hosts,
		IPAddresses:           ips,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlscert: create certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlscert: encode key: %w", err)
	}
	var out bytes.Buffer
	pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&out, &pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	return out.Bytes(), nil
}

// writeNew writes data to path (0600), which must not exist, complete or
// not at all (atomicfile.CreateNew).
func writeNew(path string, data []byte) error {
	err := atomicfile.CreateNew(path, func(tmp string) error {
		return os.WriteFile(tmp, data, 0o600)
	})
	if err != nil {
		return fmt.Errorf("tlscert: create %s: %w", path, err)
	}
	return nil
}

// writeCertCopy writes der as PEM to path (0644) unless it already holds
// exactly that. It is a convenience copy: ReadFingerprint falls back to
// the key file when it is missing or torn.
func writeCertCopy(path string, der []byte) error {
	want := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, want) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, want, 0o644); err != nil {
		return fmt.Errorf("tlscert: certificate copy: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tlscert: certificate copy: %w", err)
	}
	return nil
}

// Fingerprint returns the SHA-256 fingerprint of a DER certificate in the
// form browsers and `openssl x509 -fingerprint -sha256` print:
// upper-case hex pairs joined by colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// ReadFingerprint returns the fingerprint of the certificate the daemon
// generated, from the certificate copy certPath, or from the first
// CERTIFICATE block of path when the copy is unreadable. It never creates
// anything and never parses the key. ErrNoCertificate means neither file
// exists: the daemon has not needed TLS in this state directory.
func ReadFingerprint(path, certPath string) (string, error) {
	var firstErr error
	for _, p := range []string{certPath, path} {
		b, err := os.ReadFile(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
				firstErr = err
			}
			continue
		}
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type == "CERTIFICATE" {
				if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
					return "", fmt.Errorf("tlscert: %s: %w", p, err)
				}
				return Fingerprint(blk.Bytes), nil
			}
		}
	}
	if firstErr != nil {
		return "", fmt.Errorf("tlscert: %w", firstErr)
	}
	return "", ErrNoCertificate
}
