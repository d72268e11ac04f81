package store_test

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
)

// WithObserver sees every statement by kind, with its error; a lookup
// that finds nothing is an answer, not an error.
func TestObserverSeesStatements(t *testing.T) {
	type seen struct {
		op  string
		err bool
	}
	var mu sync.Mutex
	var got []seen
	obs := func(op string, took time.Duration, err error) {
		if took < 0 {
			t.Errorf("%s took %v", op, took)
		}
		mu.Lock()
		got = append(got, seen{op, err != nil})
		mu.Unlock()
	}
	take := func() []seen {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	s, err := store.Open(t.Context(), dsn, store.WithKeyring(testKeys(t)), store.WithLogger(storetest.Quiet()), store.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	take() // what opening ran

	if _, err := s.EnsureTenant(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	w := take()
	for _, op := range []string{"begin", "exec", "commit"} {
		if !slices.Contains(w, seen{op, false}) {
			t.Errorf("a write reported %v, without %s", w, op)
		}
	}
	if _, err := s.Tenant("acme").Connections().Get(t.Context(), "conn_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get a missing connection: %v", err)
	}
	if r := take(); !slices.Contains(r, seen{"query", false}) || slices.ContainsFunc(r, func(x seen) bool { return x.err }) {
		t.Errorf("a lookup that found nothing reported %v", r)
	}
	if _, err := s.ConnectionStates(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := take(); !slices.Equal(r, []seen{{"query", false}}) {
		t.Errorf("a list reported %v", r)
	}
	s.Close()
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("ping of a closed store worked")
	}
	if r := take(); !slices.Contains(r, seen{"query", true}) {
		t.Errorf("a failed statement reported %v", r)
	}
}
