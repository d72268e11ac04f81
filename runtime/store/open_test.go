package store

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membrane-dev/membrane/runtime/store/crypt"
	"github.com/membrane-dev/membrane/runtime/store/internal/postgres"
	"github.com/membrane-dev/membrane/runtime/store/internal/sqlite"
)

func TestParseDSN(t *testing.T) {
	for dsn, want := range map[string][2]string{
		"sqlite:///var/lib/m.db":      {"sqlite", "/var/lib/m.db"},
		"sqlite://rel/m.db":           {"sqlite", "rel/m.db"},
		"sqlite:m.db":                 {"sqlite", "m.db"},
		"./data/membrane.db":          {"sqlite", "./data/membrane.db"},
		"/x/m.sqlite3":                {"sqlite", "/x/m.sqlite3"},
		"postgres://u:p@h:5432/db":    {"postgres", ""},
		"postgresql://h/db?sslmode=x": {"postgres", ""},
	} {
		engine, path, err := parseDSN(dsn)
		if err != nil || engine != want[0] || path != want[1] {
			t.Errorf("%s: %s %s %v, want %v", dsn, engine, path, err, want)
		}
	}
	for _, dsn := range []string{"", "mysql://u:hunter2@h/db", "sqlite://", "sqlite:///x.db?mode=ro", "data"} {
		_, _, err := parseDSN(dsn)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: got %v, want ErrInvalid", dsn, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error quotes the DSN's password", dsn)
		}
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Setenv(crypt.EnvKey, crypt.EncodeKey(crypt.Generate()))
	_, err := Open(t.Context(), "postgres://u:hunter2@h:notaport/db")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v", err)
	}
}

// Without a key, SQLite makes a development key next to the file, loudly;
// PostgreSQL refuses, so replicas never each invent a key.
func TestDevKey(t *testing.T) {
	t.Setenv(crypt.EnvKey, "")
	t.Setenv(crypt.EnvOldKey, "")
	dir := t.TempDir()
	var logs bytes.Buffer
	s, err := Open(t.Context(), filepath.Join(dir, "m.db"), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, err := os.Stat(filepath.Join(dir, crypt.DevKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev key file: %v %v", fi, err)
	}
	if !strings.Contains(logs.String(), "INSECURE") {
		t.Fatalf("no warning: %s", logs.String())
	}

	_, err = Open(t.Context(), "postgres://127.0.0.1:1/none")
	if err == nil || !strings.Contains(err.Error(), crypt.EnvKey+" is not set") {
		t.Fatalf("postgres without a key: %v", err)
	}

	// With a key in the environment, no file is made.
	t.Setenv(crypt.EnvKey, crypt.EncodeKey(crypt.Generate()))
	dir2 := t.TempDir()
	s, err = Open(t.Context(), "sqlite://"+filepath.Join(dir2, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir2, crypt.DevKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a dev key was made despite %s: %v", crypt.EnvKey, err)
	}
}

// TestSQLiteFileHoldsNoSecret reads every byte SQLite wrote, WAL included.
func TestSQLiteFileHoldsNoSecret(t *testing.T) {
	dir := t.TempDir()
	keys, _ := crypt.New(crypt.Generate())
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(dir, "m.db"), WithKeyring(keys))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"sk_live_VERY_SECRET_1", "at_VERY_SECRET_2", "rt_VERY_SECRET_3", "pkce_VERY_SECRET_4", "whsec_VERY_SECRET_5", "whsec_VERY_SECRET_6"}
	_, err = s.Tenant("acme").Connections().Create(ctx, Connection{
		Connector: "x", Credentials: map[string]any{"apiKey": secrets[0]},
		Token: &Token{AccessToken: secrets[1], RefreshToken: secrets[2]},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveState(ctx, "state-0123456789abcdef", []byte(secrets[3]), s.(*sqlStore).clock().Add(3600e9)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Destinations().Create(ctx, Destination{Name: "backend", Kind: DestinationWebhook, URL: "https://example.com/h",
		Secret: secrets[4], PreviousSecret: secrets[5]}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "m.db*"))
	if len(files) < 2 {
		t.Fatalf("expected the database and its WAL: %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Fatalf("%s holds %s", filepath.Base(f), sec)
			}
		}
		if fi, _ := os.Stat(f); filepath.Base(f) == "m.db" && fi.Mode().Perm() != 0o600 {
			t.Fatalf("database file mode %v, want 0600", fi.Mode().Perm())
		}
	}
	s.Close()
}

// Both engines have the same schema versions.
func TestMigrationsMatch(t *testing.T) {
	a, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	b, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			t.Errorf("migration %d: sqlite %s, postgres %s", i+1, a[i].Name, b[i].Name)
		}
	}
}

// The hot queries use indexes, not scans (SQLite's planner says so).
func TestSQLiteQueryPlans(t *testing.T) {
	keys, _ := crypt.New(crypt.Generate())
	s, err := Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "m.db"), WithKeyring(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := s.(*sqlStore).e.DB
	for q, index := range map[string]string{
		`SELECT id FROM connections WHERE id = $1 AND tenant = $2`:                                                      "sqlite_autoindex_connections_1",
		`SELECT id FROM connections WHERE tenant = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT 51`: "connections_by_tenant",
		`SELECT id FROM connections WHERE tenant = $1 AND connector = $2 ORDER BY created_at, id LIMIT 51`:              "connections_by_connector",
		`SELECT id FROM run_logs WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT 51`:                          "run_logs_by_tenant",
		`SELECT id FROM outbox WHERE seq IS NULL ORDER BY created_at, id LIMIT $1`:                                      "outbox_unrouted",
		`SELECT id FROM outbox WHERE seq > $1 ORDER BY seq LIMIT 100`:                                                   "outbox_log",
		`SELECT id FROM outbox WHERE seq > $1 AND tenant = $2 ORDER BY seq LIMIT 100`:                                   "outbox_tenant_log",
		`SELECT d.event_id, d.destination FROM deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $1
			AND EXISTS (SELECT 1 FROM destinations x WHERE x.id = d.destination AND x.status = 'active') ORDER BY d.next_attempt_at, d.seq LIMIT 10`: "deliveries_due",
		`SELECT event_id FROM deliveries WHERE destination = $1 AND status = 'dead' ORDER BY seq, destination LIMIT 51`:   "deliveries_by_destination",
		`SELECT event_id FROM deliveries ORDER BY seq, destination LIMIT 51`:                                              "deliveries_by_seq",
		`SELECT id FROM delivery_attempts WHERE event_id = $1 ORDER BY id DESC LIMIT 51`:                                  "delivery_attempts_by_event",
		`SELECT id FROM delivery_attempts WHERE destination = $1 ORDER BY id DESC LIMIT 51`:                               "delivery_attempts_by_destination",
		`SELECT id FROM subscriptions WHERE tenant = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT 51`: "subscriptions_by_tenant",
		`SELECT id FROM subscriptions s WHERE status = 'active' AND next_run_at IS NOT NULL AND next_run_at <= $1
			AND NOT EXISTS (SELECT 1 FROM poll_leases l WHERE l.connection_id = s.connection_id AND l.lease_until > $2) ORDER BY next_run_at, id LIMIT 10`: "subscriptions_due",
		`SELECT id FROM subscriptions WHERE connector = $1 AND event = $2 AND route_key = $3 AND status = 'active'`:    "subscriptions_by_route",
		`SELECT record_id FROM record_hashes WHERE subscription_id = $1 AND generation < $2 LIMIT 10`:                  "record_hashes_by_generation",
		`SELECT id FROM outbox WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2`:                           "outbox_recent",
		`SELECT id FROM webhook_inbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id`: "webhook_inbox_due",
	} {
		rows, err := db.Query(t.Context(), "EXPLAIN QUERY PLAN "+q, "a", int64(1), "b")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if !strings.Contains(p, index) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s\nplan: %s\nwant index %s and no sort", q, p, index)
		}
	}
}
