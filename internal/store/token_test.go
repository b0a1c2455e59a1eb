package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	clk := newFakeClock()
	s := openTemp(t, Options{Now: clk.Now})

	pos, err := s.CreateToken("pos-1")
	if err != nil {
		t.Fatalf("CreateToken(pos-1): %v", err)
	}
	clk.Advance(time.Minute)
	kiosk, err := s.CreateToken("kiosk")
	if err != nil {
		t.Fatalf("CreateToken(kiosk): %v", err)
	}
	for _, tok := range []string{pos, kiosk} {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, TokenPrefix))
		if !strings.HasPrefix(tok, TokenPrefix) || err != nil || len(raw) != tokenRandLen {
			t.Errorf("token %q: want %q + base64url of %d bytes", tok, TokenPrefix, tokenRandLen)
		}
	}
	if pos == kiosk {
		t.Fatal("two tokens are equal")
	}

	checks := []struct {
		token    string
		wantName string
		wantOK   bool
	}{
		{pos, "pos-1", true},
		{kiosk, "kiosk", true},
		{"", "", false},
		{TokenPrefix, "", false},
		{pos[:len(pos)-1], "", false},
		{pos + "A", "", false},
		{strings.ToUpper(pos), "", false},
		{pos[:len(pos)-1] + string(pos[len(pos)-1]^1), "", false},
	}
	for _, c := range checks {
		if name, ok := s.CheckToken(c.token); name != c.wantName || ok != c.wantOK {
			t.Errorf("CheckToken(%q) = %q, %v; want %q, %v", c.token, name, ok, c.wantName, c.wantOK)
		}
	}

	list, err := s.ListTokens()
	if err != nil {
		t.Fatal(err)
	}
	want := []TokenInfo{
		{Name: "kiosk", Created: clk.Now(), ID: kiosk[:tokenIDLen]},
		{Name: "pos-1", Created: clk.Now().Add(-time.Minute), ID: pos[:tokenIDLen]},
	}
	if len(list) != len(want) {
		t.Fatalf("ListTokens() = %+v, want %+v", list, want)
	}
	for i := range want {
		if list[i].Name != want[i].Name || !list[i].Created.Equal(want[i].Created) || list[i].ID != want[i].ID {
			t.Errorf("ListTokens()[%d] = %+v, want %+v", i, list[i], want[i])
		}
	}

	if err := s.RevokeToken("pos-1"); err != nil {
		t.Fatalf("RevokeToken(pos-1): %v", err)
	}
	if name, ok := s.CheckToken(pos); ok {
		t.Errorf("CheckToken(revoked) = %q, true; want false", name)
	}
	if name, ok := s.CheckToken(kiosk); !ok || name != "kiosk" {
		t.Errorf("CheckToken(kiosk) after revoking pos-1 = %q, %v", name, ok)
	}
	if err := s.RevokeToken("pos-1"); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("second RevokeToken(pos-1) = %v, want ErrTokenNotFound", err)
	}
	// A revoked name can be reused, and gets a new token.
	pos2, err := s.CreateToken("pos-1")
	if err != nil || pos2 == pos {
		t.Errorf("CreateToken(pos-1) after revoke = %q, %v", pos2, err)
	}
}

func TestCreateTokenErrors(t *testing.T) {
	s := openTemp(t, Options{})
	if _, err := s.CreateToken("dup"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want error
	}{
		{"dup", ErrTokenExists},
		{"", ErrInvalidTokenName},
		{strings.Repeat("n", MaxTokenNameLen+1), ErrInvalidTokenName},
		{"tab\there", ErrInvalidTokenName},
		{"nl\n", ErrInvalidTokenName},
		{"\xff", ErrInvalidTokenName},
	}
	for _, tc := range tests {
		if tok, err := s.CreateToken(tc.name); !errors.Is(err, tc.want) || tok != "" {
			t.Errorf("CreateToken(%q) = %q, %v; want \"\", %v", tc.name, tok, err, tc.want)
		}
	}
	if list, _ := s.ListTokens(); len(list) != 1 {
		t.Errorf("ListTokens after errors = %+v, want only dup", list)
	}
}

func TestCreateTokenRandFailure(t *testing.T) {
	s := openTemp(t, Options{Rand: bytes.NewReader(make([]byte, 10))})
	if tok, err := s.CreateToken("x"); err == nil || tok != "" {
		t.Errorf("CreateToken with short Rand = %q, %v; want error", tok, err)
	}
}

// TestTokenNotStored greps the database file for the token in every form
// it could be written in: only its SHA-256 may be there.
func TestTokenNotStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateToken("pos-1")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(tok, TokenPrefix)
	raw, _ := base64.RawURLEncoding.DecodeString(secret)
	for what, b := range map[string][]byte{
		"token":           []byte(tok),
		"secret part":     []byte(secret),
		"unlisted part":   []byte(secret[tokenIDLen-len(TokenPrefix):]),
		"raw random":      raw,
		"raw random tail": raw[8:],
	} {
		if bytes.Contains(db, b) {
			t.Errorf("database file contains the %s", what)
		}
	}
	sum := sha256.Sum256([]byte(tok))
	if !bytes.Contains(db, sum[:]) {
		t.Error("database file does not contain the token's SHA-256; is the test looking at the right file?")
	}
	if !bytes.Contains(db, []byte("pos-1")) {
		t.Error("database file does not contain the token name")
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if name, ok := s.CheckToken(tok); !ok || name != "pos-1" {
		t.Errorf("CheckToken after reopen = %q, %v; want pos-1, true", name, ok)
	}
}

func BenchmarkCheckToken(b *testing.B) {
	s := openTemp(b, Options{})
	var tok string
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		tok, _ = s.CreateToken(name)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.CheckToken(tok); !ok {
			b.Fatal("CheckToken = false")
		}
	}
}
