package crypt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables holding keys: base64 of KeySize random bytes. Old
// keys, comma-separated, still open values sealed before a rotation.
const (
	EnvKey    = "MEMBRANE_SECRET_KEY"
	EnvOldKey = "MEMBRANE_SECRET_KEY_OLD"
)

// DevKeyFile is the name of the development key generated into a data
// directory when no key is configured.
const DevKeyFile = "membrane-secret.key"

// FromEnv reads the keyring from the environment. It returns nil and no
// error when MEMBRANE_SECRET_KEY is not set.
func FromEnv() (*Keyring, error) {
	cur := strings.TrimSpace(os.Getenv(EnvKey))
	old := strings.TrimSpace(os.Getenv(EnvOldKey))
	if cur == "" {
		if old != "" {
			return nil, fmt.Errorf("%s is set but %s is not: set the current key too", EnvOldKey, EnvKey)
		}
		return nil, nil
	}
	c, err := decodeKey(cur)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKey, err)
	}
	var olds [][]byte
	for i, s := range strings.Split(old, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		o, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s, key %d: %w", EnvOldKey, i+1, err)
		}
		olds = append(olds, o)
	}
	return New(c, olds...)
}

// decodeKey accepts standard or URL-safe base64, padded or not. Its errors
// never quote the value.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("the key decodes to %d bytes, want %d (make one with: openssl rand -base64 32)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("the key is not base64 (make one with: openssl rand -base64 32)")
}

// EncodeKey is the form of a key that the environment variables take.
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// DevKeyring loads the development key from dir, generating it (mode 0600)
// on first use, and warns loudly: whoever reads that file reads every
// secret in the store.
func DevKeyring(dir string, log *slog.Logger) (*Keyring, error) {
	if log == nil {
		log = slog.Default()
	}
	path := filepath.Join(dir, DevKeyFile)
	k, created, err := loadOrCreate(path)
	if err != nil {
		return nil, err
	}
	log.Warn("INSECURE: "+EnvKey+" is not set, so secrets are encrypted with a development key kept next to the data. "+
		"Anyone who can read that file can decrypt every stored credential and token. "+
		"In production set "+EnvKey+" to the output of `openssl rand -base64 32`; "+
		"to keep existing data, also set "+EnvOldKey+" to this file's content and run the key rotation.",
		"key_file", path, "key_id", KeyID(k), "generated", created)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the development key file is readable by other users; chmod 600 it", "key_file", path, "mode", fi.Mode().Perm().String())
	}
	return New(k)
}

// ReadDevKeyring loads the development key kept in dir, for a command that
// only reads the store: it never generates one (a missing key is an error
// satisfying errors.Is(err, fs.ErrNotExist)), nor warns as DevKeyring does
// for the servers that seal secrets with it.
func ReadDevKeyring(dir string) (*Keyring, error) {
	k, err := readKeyFile(filepath.Join(dir, DevKeyFile))
	if err != nil {
		return nil, err
	}
	return New(k)
}

// loadOrCreate reads the key file, or writes a new one atomically: the key
// goes to a temporary file that is then hard-linked into place, so two
// processes starting at once agree on one key and neither reads half a file.
func loadOrCreate(path string) (k []byte, created bool, err error) {
	if k, err := readKeyFile(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("development key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".membrane-secret-*.tmp")
	if err != nil {
		return nil, false, fmt.Errorf("development key: %w", err)
	}
	defer os.Remove(tmp.Name())
	k = Generate()
	_, werr := tmp.WriteString(EncodeKey(k) + "\n")
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return nil, false, fmt.Errorf("development key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process won the race: use its key
			k, err := readKeyFile(path)
			return k, false, err
		}
		return nil, false, fmt.Errorf("development key %s: %w", path, err)
	}
	return k, true, nil
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("development key %s: %w", path, err)
	}
	k, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("development key %s: %w", path, err)
	}
	return k, nil
}
