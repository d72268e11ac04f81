package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Page sizes.
const (
	defaultLimit = 50
	maxLimit     = 1000
)

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return defaultLimit, nil
	case n < 0 || n > maxLimit:
		return 0, fmt.Errorf("%w: limit %d is outside 1..%d", ErrInvalid, n, maxLimit)
	}
	return n, nil
}

// cursor is a keyset position: the sort key of the last item of a page.
// It is opaque to callers (base64 of JSON) so its shape may change.
type cursor struct {
	T  int64  `json:"t,omitempty"`
	ID string `json:"i,omitempty"`
	K  string `json:"k,omitempty"` // a second string key (overrides)
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(s string) (cursor, bool, error) {
	if s == "" {
		return cursor{}, false, nil
	}
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return cursor{}, false, fmt.Errorf("%w: malformed page cursor", ErrInvalid)
	}
	return c, true, nil
}
