package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/membrane-dev/membrane/runtime/store/internal/sqldb"
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

// pageRequest checks a listing's limit and cursor text: the page size to
// use, and the cursor to continue after when after is true.
func pageRequest(limit int, cursorText string) (n int, cur cursor, after bool, err error) {
	if n, err = pageLimit(limit); err != nil {
		return 0, cur, false, err
	}
	cur, after, err = parseCursor(cursorText)
	return n, cur, after, err
}

// scanner is a row to scan: a single Row or the current row of Rows.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs a query and scans every row it returns.
func queryAll[T any](ctx context.Context, q sqldb.Querier, scan func(scanner) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, item)
	}
	return out, rows.Err()
}

// queryPage runs a keyset-paginated query that asks for limit+1 rows: the
// extra row only says a next page exists, whose cursor next derives from
// the last item kept.
func queryPage[T any](ctx context.Context, q sqldb.Querier, what string, limit int, scan func(scanner) (T, error), next func(T) cursor, sql string, args ...any) (Page[T], error) {
	var page Page[T]
	items, err := queryAll(ctx, q, scan, sql, args...)
	if err != nil {
		return page, wrap(what, err)
	}
	page.Items = items
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.Next = next(page.Items[limit-1]).String()
	}
	return page, nil
}
