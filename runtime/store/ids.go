package store

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// lowercase base32 without padding: URL-safe and case-insensitive-safe.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix + "_" + 20 random base32 characters (100 bits):
// unguessable, so an id of another tenant cannot be found by trying.
func newID(prefix string) string {
	b := make([]byte, 13) // 104 bits → 21 characters, cut to 20
	rand.Read(b)
	return prefix + "_" + idEncoding.EncodeToString(b)[:20]
}

const maxKeyLen = 255

// checkKey validates a caller-chosen key or id: non-empty, short, and free
// of control characters, which have no business in a URL or a log line.
func checkKey(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, what)
	}
	if len(s) > maxKeyLen {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, what, maxKeyLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalid, what)
		}
	}
	return nil
}

// micros is the stored form of a time; fromMicros reads it back in UTC.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func optMicros(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

func fromOptMicros(us *int64) time.Time {
	if us == nil {
		return time.Time{}
	}
	return fromMicros(*us)
}
