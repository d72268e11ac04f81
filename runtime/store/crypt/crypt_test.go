package crypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSealOpen(t *testing.T) {
	a, b := Generate(), Generate()
	ra, err := New(a)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("hunter2-the-secret")
	s1 := ra.Seal(secret, []byte("row1"))
	s2 := ra.Seal(secret, []byte("row1"))
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if bytes.Contains(s1, secret) {
		t.Fatal("the sealed value holds the plaintext")
	}
	if id, _ := SealedKeyID(s1); id != KeyID(a) || id != ra.CurrentID() {
		t.Fatalf("key id %s, want %s", id, KeyID(a))
	}
	got, err := ra.Open(s1, []byte("row1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q %v", got, err)
	}
	// Bound to its place.
	if _, err := ra.Open(s1, []byte("row2")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("other aad: %v", err)
	}
	// Tampered.
	bad := bytes.Clone(s1)
	bad[len(bad)-1] ^= 1
	if _, err := ra.Open(bad, []byte("row1")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered: %v", err)
	}
	for _, short := range [][]byte{nil, {1}, s1[:headerLen]} {
		if _, err := ra.Open(short, nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("short: %v", err)
		}
	}

	// Rotation: b current, a old; a-sealed values still open.
	rba, err := New(b, a)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rba.Open(s1, []byte("row1")); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("old key: %q %v", got, err)
	}
	if id, _ := SealedKeyID(rba.Seal(secret, nil)); id != KeyID(b) {
		t.Fatal("seal does not use the current key")
	}
	if ids := rba.IDs(); len(ids) != 2 || ids[0] != KeyID(b) {
		t.Fatalf("ids %v", ids)
	}
	// Without a: unknown key id, named, and no secret in the message.
	rb, _ := New(b)
	_, err = rb.Open(s1, []byte("row1"))
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), KeyID(a)) {
		t.Fatalf("unknown key: %v", err)
	}

	if _, err := New([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestFromEnv(t *testing.T) {
	a, b := Generate(), Generate()
	t.Setenv(EnvKey, "")
	t.Setenv(EnvOldKey, "")
	if k, err := FromEnv(); k != nil || err != nil {
		t.Fatalf("unset: %v %v", k, err)
	}
	t.Setenv(EnvOldKey, EncodeKey(a))
	if _, err := FromEnv(); err == nil {
		t.Fatal("old keys without a current key were accepted")
	}
	t.Setenv(EnvKey, base64.RawURLEncoding.EncodeToString(b))
	t.Setenv(EnvOldKey, " "+EncodeKey(a)+" , ")
	k, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if k.CurrentID() != KeyID(b) || len(k.IDs()) != 2 {
		t.Fatalf("keyring %v", k.IDs())
	}
	secretish := "c2hvcnQtYnV0LXNlY3JldA=="
	t.Setenv(EnvKey, secretish)
	_, err = FromEnv()
	if err == nil || strings.Contains(err.Error(), secretish) || !strings.Contains(err.Error(), "decodes to 16 bytes") {
		t.Fatalf("bad key: %v", err)
	}
	t.Setenv(EnvKey, "%%%not-base64%%%")
	if _, err := FromEnv(); err == nil || strings.Contains(err.Error(), "not-base64") {
		t.Fatalf("not base64: %v", err)
	}
}

func TestDevKeyring(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	k1, err := DevKeyring(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "INSECURE") || !strings.Contains(logs.String(), "generated=true") {
		t.Fatalf("no loud warning: %s", logs.String())
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(must(os.ReadFile(filepath.Join(dir, DevKeyFile)))))) {
		t.Fatal("the warning holds the key")
	}
	// The same key next time.
	k2, err := DevKeyring(dir, log)
	if err != nil || k2.CurrentID() != k1.CurrentID() {
		t.Fatalf("second load: %v %v", k2, err)
	}
	// Processes starting at once agree on one key.
	dir2 := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			k, err := DevKeyring(dir2, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.CurrentID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing loads made different keys: %v", ids)
		}
	}
	// A corrupt file is an error, not a new key.
	if err := os.WriteFile(filepath.Join(dir2, DevKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := DevKeyring(dir2, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a corrupt key file was replaced or accepted")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
