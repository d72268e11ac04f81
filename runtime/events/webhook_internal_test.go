package events

import (
	"errors"
	"testing"
	"time"
)

func TestTimeOfReadsExpiries(t *testing.T) {
	want := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []any{"2026-05-01T12:00:00Z", "2026-05-01T14:00:00+02:00", want.Unix(), float64(want.Unix()), "1777636800", want} {
		got, err := timeOf(v)
		if err != nil || !got.Equal(want) {
			t.Errorf("timeOf(%#v) = %v, %v; want %v", v, got, err, want)
		}
	}
	if got, err := timeOf(nil); err != nil || !got.IsZero() {
		t.Errorf("timeOf(nil) = %v, %v; want no expiry", got, err)
	}
	for _, v := range []any{"next tuesday", true, []any{1}} {
		if _, err := timeOf(v); err == nil {
			t.Errorf("timeOf(%#v) took it", v)
		}
	}
}

func TestTTLCacheKeepsOnlyWhatItShould(t *testing.T) {
	notFound := errors.New("not found")
	c := &TTLCache[int]{TTL: time.Hour, KeepErr: func(err error) bool { return errors.Is(err, notFound) }}
	loads := 0
	load := func(v int, err error) func() (int, error) {
		return func() (int, error) { loads++; return v, err }
	}
	c.Get("a", load(1, nil))
	if v, _ := c.Get("a", load(2, nil)); v != 1 || loads != 1 {
		t.Errorf("a cached value was loaded again: %d, %d loads", v, loads)
	}
	c.Get("b", load(0, notFound))
	if _, err := c.Get("b", load(3, nil)); !errors.Is(err, notFound) || loads != 2 {
		t.Errorf("a kept error was not kept: %v, %d loads", err, loads)
	}
	c.Get("c", load(0, errors.New("store down")))
	if v, err := c.Get("c", load(4, nil)); v != 4 || err != nil || loads != 4 {
		t.Errorf("a transient error was cached: %d, %v, %d loads", v, err, loads)
	}
	off := &TTLCache[int]{}
	off.Get("a", load(5, nil))
	if v, _ := off.Get("a", load(6, nil)); v != 6 {
		t.Errorf("a cache with no TTL kept a value")
	}
}

func TestHashOfIsStableAcrossKeyOrder(t *testing.T) {
	a := hashOf(map[string]any{"id": int64(1), "email": "a@b.test", "tags": []any{"x"}})
	b := hashOf(map[string]any{"tags": []any{"x"}, "email": "a@b.test", "id": int64(1)})
	if a != b {
		t.Errorf("the same record hashes to %s and %s", a, b)
	}
	if c := hashOf(map[string]any{"id": int64(1), "email": "c@b.test"}); c == a {
		t.Errorf("different records share a hash")
	}
}
