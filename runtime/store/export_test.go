package store

// WithMigrationsUpTo opens a database migrated only up to version v, as
// an older binary left it.
func WithMigrationsUpTo(v int) Option { return func(c *config) { c.migrateTo = v } }
