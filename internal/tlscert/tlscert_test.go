package tlscert

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func paths(t *testing.T) (string, string) {
	dir := t.TempDir()
	return filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-cert.pem")
}

func TestEnsureMakesOnceAndKeeps(t *testing.T) {
	path, certPath := paths(t)
	if _, err := ReadFingerprint(path, certPath); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("ReadFingerprint before = %v, want ErrNoCertificate", err)
	}
	c1, created, err := Ensure(path, certPath, Options{Hosts: []string{"kiosk-3.shop.example"}, IPs: []net.IP{net.IPv4(192, 0, 2, 2)}})
	if err != nil || !created {
		t.Fatalf("Ensure = %v, created %v", err, created)
	}
	leaf, err := x509.ParseCertificate(c1.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("kiosk-3.shop.example"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("192.0.2.2"); err != nil {
		t.Error(err)
	}
	if d := time.Until(leaf.NotAfter); d < Validity-48*time.Hour {
		t.Errorf("valid for %v", d)
	}
	c2, created, err := Ensure(path, certPath, Options{})
	if err != nil || created || string(c2.Certificate[0]) != string(c1.Certificate[0]) {
		t.Fatalf("second Ensure = %v, created %v, same %v", err, created, string(c2.Certificate[0]) == string(c1.Certificate[0]))
	}
	fp, err := ReadFingerprint(path, certPath)
	sum := sha256.Sum256(c1.Certificate[0])
	if err != nil || strings.ReplaceAll(fp, ":", "") != strings.ToUpper(hex.EncodeToString(sum[:])) || len(fp) != 95 {
		t.Errorf("ReadFingerprint = %q, %v", fp, err)
	}
	// Without the copy, from the key file; and the copy is public.
	if fi, err := os.Stat(certPath); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o644) {
		t.Errorf("certificate copy: %v, %v", fi, err)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("key file: %v, %v", fi, err)
	}
	os.Remove(certPath)
	if fp2, err := ReadFingerprint(path, certPath); err != nil || fp2 != fp {
		t.Errorf("ReadFingerprint from the key file = %q, %v", fp2, err)
	}
	// It serves.
	if _, err := tls.X509KeyPair(mustRead(t, path), mustRead(t, path)); err != nil {
		t.Error(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHalfWrittenCertificateNeverUsed: the file appears complete or not
// at all, and a damaged one is an error, never silently replaced (clients
// pinned it).
func TestHalfWrittenCertificateNeverUsed(t *testing.T) {
	path, certPath := paths(t)
	if _, _, err := Ensure(path, certPath, Options{}); err != nil {
		t.Fatal(err)
	}
	b := mustRead(t, path)
	os.WriteFile(path, b[:len(b)/2], 0o600)
	if _, _, err := Ensure(path, certPath, Options{}); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("Ensure(torn file) = %v, want an error", err)
	}
	if got := mustRead(t, path); len(got) != len(b)/2 {
		t.Error("the torn file was replaced")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".new-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestLoadNamesFilesNotContent(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nSECRETSTUFF\n-----END CERTIFICATE-----\n"), 0o600)
	os.WriteFile(key, []byte("SECRETKEY"), 0o600)
	_, err := Load(cert, key)
	if err == nil || !strings.Contains(err.Error(), cert) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("Load = %v", err)
	}
}
