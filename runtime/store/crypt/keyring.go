// Package crypt seals secrets at rest: AES-256-GCM with a random nonce per
// value, every ciphertext tagged with the id of the key that sealed it, so a
// Keyring can hold one current key and older ones that still open values
// sealed before a rotation.
package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

const (
	version   = 1  // first byte of every sealed value
	idLen     = 8  // raw key id bytes in a sealed value
	nonceLen  = 12 // GCM standard nonce
	headerLen = 1 + idLen + nonceLen
)

// Errors a caller can branch on. Neither ever carries a secret.
var (
	ErrUnknownKey = errors.New("unknown key id")
	ErrCorrupt    = errors.New("sealed value is corrupt or was tampered with")
)

// Keyring seals with its current key and opens with any of its keys. It is
// safe for concurrent use.
type Keyring struct {
	current *key
	byID    map[[idLen]byte]*key
}

type key struct {
	id   [idLen]byte
	aead cipher.AEAD
}

// New makes a keyring from the current key and the older keys that may still
// open existing values. Every key is KeySize bytes.
func New(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{byID: map[[idLen]byte]*key{}}
	cur, err := newKey(current)
	if err != nil {
		return nil, fmt.Errorf("current key: %w", err)
	}
	k.current = cur
	k.byID[cur.id] = cur
	for i, b := range old {
		o, err := newKey(b)
		if err != nil {
			return nil, fmt.Errorf("old key %d: %w", i+1, err)
		}
		if _, dup := k.byID[o.id]; !dup {
			k.byID[o.id] = o
		}
	}
	return k, nil
}

// Generate returns a new random key.
func Generate() []byte {
	b := make([]byte, KeySize)
	rand.Read(b) // never fails: crypto/rand panics instead of returning an error
	return b
}

// KeyID names a key without revealing it: a truncated SHA-256 of the key
// under a fixed label, so the id is stable wherever the key is configured.
func KeyID(k []byte) string {
	id := keyID(k)
	return hex.EncodeToString(id[:])
}

func keyID(k []byte) [idLen]byte {
	h := sha256.New()
	h.Write([]byte("membrane key id v1\x00"))
	h.Write(k)
	var id [idLen]byte
	copy(id[:], h.Sum(nil))
	return id
}

func newKey(b []byte) (*key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("a key is %d bytes, got %d", KeySize, len(b))
	}
	block, err := aes.NewCipher(b)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &key{id: keyID(b), aead: aead}, nil
}

// CurrentID is the id of the key Seal uses.
func (k *Keyring) CurrentID() string { return hex.EncodeToString(k.current.id[:]) }

// IDs lists the ids of every key, the current one first.
func (k *Keyring) IDs() []string {
	ids := []string{k.CurrentID()}
	for id := range k.byID {
		if id != k.current.id {
			ids = append(ids, hex.EncodeToString(id[:]))
		}
	}
	return ids
}

// Seal encrypts plaintext with the current key. aad binds the value to its
// place (a row and column), so a sealed value copied elsewhere won't open.
func (k *Keyring) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, headerLen, headerLen+len(plaintext)+k.current.aead.Overhead())
	out[0] = version
	copy(out[1:], k.current.id[:])
	rand.Read(out[1+idLen : headerLen])
	return k.current.aead.Seal(out, out[1+idLen:headerLen], plaintext, aad)
}

// Open decrypts a value sealed by any key of the ring with the same aad.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	var raw [idLen]byte
	copy(raw[:], sealed[1:])
	key, ok := k.byID[raw]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownKey, id)
	}
	pt, err := key.aead.Open(nil, sealed[1+idLen:headerLen], sealed[headerLen:], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// SealedKeyID names the key that sealed a value.
func SealedKeyID(sealed []byte) (string, error) {
	if len(sealed) < headerLen+16 || sealed[0] != version {
		return "", ErrCorrupt
	}
	return hex.EncodeToString(sealed[1 : 1+idLen]), nil
}
