package store

import "time"

// WithMigrationsUpTo opens a database migrated only up to version v, as
// an older binary left it.
func WithMigrationsUpTo(v int) Option { return func(c *config) { c.migrateTo = v } }

// WithBusyTimeout shortens SQLite's wait for another process's lock.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busy = d } }
