package tenancy

import (
	"sync"
)

// maxVerified bounds the tokens a Verifier remembers. Past it the cache
// starts over: a flood of distinct valid tokens costs memory up to here,
// then only signature checks.
const maxVerified = 10_000

// verifiedCache remembers the claims of tokens that verified.
type verifiedCache struct {
	mu sync.RWMutex
	m  map[string]Claims
}

func (c *verifiedCache) get(token string) (Claims, bool) {
	c.mu.RLock()
	cl, ok := c.m[token]
	c.mu.RUnlock()
	return cl, ok
}

func (c *verifiedCache) put(token string, cl Claims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxVerified {
		c.m = make(map[string]Claims)
	}
	c.m[token] = cl
}

func (c *verifiedCache) drop(token string) {
	c.mu.Lock()
	delete(c.m, token)
	c.mu.Unlock()
}
