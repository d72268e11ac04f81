package events

import (
	"sync"
	"time"
)

// maxCached bounds a TTLCache; past it the cache starts over.
const maxCached = 20000

// TTLCache keeps lookups for a short time: the ingress resolves the same
// subscription, event and connection for every push, and a change to
// them (a pause, new credentials) may take a TTL to be seen there. The
// inbox worker looks again before it processes anything.
type TTLCache[V any] struct {
	TTL time.Duration
	// KeepErr says which errors are kept like values (a lookup that
	// found nothing); the others are not cached.
	KeepErr func(error) bool
	mu      sync.Mutex
	m       map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v   V
	err error
	at  time.Time
}

// Get returns the value under key, calling load when it is missing or
// older than TTL. A TTL of 0 or less caches nothing.
func (c *TTLCache[V]) Get(key string, load func() (V, error)) (V, error) {
	if c == nil || c.TTL <= 0 {
		return load()
	}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.TTL {
		return e.v, e.err
	}
	v, err := load()
	if err != nil && (c.KeepErr == nil || !c.KeepErr(err)) {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]ttlEntry[V]{}
	}
	c.m[key] = ttlEntry[V]{v: v, err: err, at: now}
	c.mu.Unlock()
	return v, err
}
