package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/membrane-dev/membrane/runtime/store"
)

// SQLite gives each test a database file in its t.TempDir().
func SQLite(*testing.T) NewDB {
	return func(t *testing.T) Opener {
		return opener(t, "sqlite://"+filepath.Join(t.TempDir(), "membrane.db"))
	}
}

// PostgresAdminDSN is the server the Postgres openers create databases on;
// MEMBRANE_TEST_POSTGRES overrides it.
func PostgresAdminDSN() string {
	if dsn := os.Getenv("MEMBRANE_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Postgres creates a database with a random name for the run of t, dropped
// when t ends, and gives each test a schema of its own in it (through the
// DSN's search_path): creating a database takes about a second, a schema
// a millisecond. Without a reachable server t is skipped, but fails in CI
// (the CI variable set), where PostgreSQL must be there.
func Postgres(t *testing.T) NewDB {
	dsn := PostgresDB(t)
	return func(t *testing.T) Opener {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		schema := "t_" + randomHex()
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		u, _ := url.Parse(dsn)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return opener(t, u.String())
	}
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// PostgresDB creates a database with a random name, dropped when t ends,
// and returns its DSN.
func PostgresDB(t testing.TB) string {
	t.Helper()
	admin := PostgresAdminDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("PostgreSQL is not reachable (%v); set MEMBRANE_TEST_POSTGRES to test it", err)
	}
	defer conn.Close(ctx)
	name := "membrane_test_" + randomHex()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends connections a failed test may have left open.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("MEMBRANE_TEST_POSTGRES must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// opener opens stores on dsn, each closed when the test ends. Every
// statement goes through the store's observer, as under serve (metrics),
// so the whole suite runs on it.
func opener(t *testing.T, dsn string) Opener {
	return func(opts ...store.Option) store.Store {
		t.Helper()
		observed := store.WithObserver(func(op string, took time.Duration, _ error) {
			if took < 0 || op == "" {
				t.Errorf("observer: %q took %v", op, took)
			}
		})
		s, err := store.Open(context.Background(), dsn, append([]store.Option{observed}, opts...)...)
		if err != nil {
			t.Fatalf("open %s: %v", dsn, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}
