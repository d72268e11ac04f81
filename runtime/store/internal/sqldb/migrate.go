package sqldb

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads files named NNNN_name.sql from dir in fsys, ordered
// by version. Versions must be unique and start at 1 without gaps, so a
// missing file is caught at build time by the tests, not in production.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name must start with a positive version and '_'", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d (versions start at 1 with no gaps or repeats)", m.Name, i+1)
		}
	}
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`

// Migrate applies the migrations the database lacks, each in its own
// transaction that first takes lock (an advisory lock on PostgreSQL; on
// SQLite, beginning the write transaction is the lock), then checks again
// whether another process applied it meanwhile. Several replicas starting
// at once therefore apply each migration exactly once.
func Migrate(ctx context.Context, e *Engine, ms []Migration, lock func(ctx context.Context, tx Tx) error, log *slog.Logger) error {
	applied, err := appliedVersion(ctx, e, lock)
	if err != nil {
		return err
	}
	if len(ms) > 0 && applied > ms[len(ms)-1].Version {
		// A newer binary migrated this database (a rolling upgrade, or a
		// rollback): go on, migrations only add, and say so.
		log.Warn("the database schema is newer than this binary", "engine", e.Name, "schema_version", applied, "binary_version", ms[len(ms)-1].Version)
		return nil
	}
	for _, m := range ms {
		if m.Version <= applied {
			continue
		}
		if err := apply(ctx, e, m, lock); err != nil {
			return err
		}
		log.Info("applied migration", "engine", e.Name, "migration", m.Name)
	}
	return nil
}

func appliedVersion(ctx context.Context, e *Engine, lock func(ctx context.Context, tx Tx) error) (int, error) {
	tx, err := e.DB.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := lock(ctx, tx); err != nil {
		return 0, fmt.Errorf("migrations: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
		return 0, fmt.Errorf("migrations: create schema_migrations: %w", err)
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrations: read version: %w", err)
	}
	return v, tx.Commit(ctx)
}

func apply(ctx context.Context, e *Engine, m Migration, lock func(ctx context.Context, tx Tx) error) error {
	tx, err := e.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer tx.Rollback(ctx)
	if err := lock(ctx, tx); err != nil {
		return fmt.Errorf("migration %s: lock: %w", m.Name, err)
	}
	var done int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&done); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if done > 0 {
		return nil // another replica applied it while we waited for the lock
	}
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s (%s): %w", m.Name, e.Name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("migration %s: record: %w", m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return nil
}
