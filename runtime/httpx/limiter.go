package httpx

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: PerSecond requests a second on average, Burst of
// them at once. PerSecond <= 0 means no limit. Burst < 1 means 1: strictly
// spaced requests never overrun an API's own window, whatever its shape.
type Rate struct {
	PerSecond float64
	Burst     int
}

func (r Rate) burst() int { return max(r.Burst, 1) }

// sweepEvery is how often Wait looks for buckets it can forget.
const sweepEvery = time.Minute

// Limiter holds one token bucket per key (a connection id). The zero value is
// ready to use and safe for concurrent use.
//
// Memory stays bounded without an LRU: a bucket that has refilled to its
// burst behaves exactly like a new one, so a periodic sweep (run inside Wait,
// no goroutine) drops those. Only keys used within the last burst/rate
// seconds stay.
type Limiter struct {
	// Now and Sleep replace the clock and the timer, for tests; nil means
	// time.Now and a timer that honours ctx.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	// MaxPause is the longest wait for an API's rate-limit window to
	// reset (see Pause): past it Wait fails at once, retryable, rather
	// than hold a request that long. Default DefaultMaxRetryAfter.
	MaxPause time.Duration

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	paused    map[string]time.Time // key → when its API window resets
	lastSweep time.Time
}

// Pause holds key's requests until until: the API said the key has no
// requests left in its window. A later pause extends an earlier one.
func (l *Limiter) Pause(key string, until time.Time) {
	if key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused == nil {
		l.paused = make(map[string]time.Time)
	}
	if until.After(l.paused[key]) {
		l.paused[key] = until
	}
}

// pausedFor is how long key is still paused at now.
func (l *Limiter) pausedFor(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.paused[key]
	if !ok {
		return 0
	}
	if !now.Before(until) {
		delete(l.paused, key)
		return 0
	}
	return until.Sub(now)
}

// waitPause waits out key's pause, or fails when it lasts past ctx's
// deadline or MaxPause.
func (l *Limiter) waitPause(ctx context.Context, key string) error {
	d := l.pausedFor(key, l.now())
	if d <= 0 {
		return nil
	}
	maxPause := l.MaxPause
	if maxPause <= 0 {
		maxPause = DefaultMaxRetryAfter
	}
	if d > maxPause {
		return &Error{Kind: KindRateLimited, Retryable: true, Message: fmt.Sprintf("the API's rate limit is spent for another %s; nothing was sent", d.Round(time.Second))}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return &Error{Kind: KindRateLimited, Retryable: true, Message: fmt.Sprintf("the API's rate limit is spent for another %s, past the deadline; nothing was sent", d.Round(time.Millisecond))}
	}
	if err := sleeper(l.Sleep)(ctx, d); err != nil {
		return ctxError(err)
	}
	return nil
}

// Wait blocks until key may send one request at rate r, or fails: with
// KindRateLimited when the slot comes after ctx's deadline (without
// waiting for it), with the context's error when ctx ends first.
//
// A key the API paused (see Pause) first waits for the API's reset.
func (l *Limiter) Wait(ctx context.Context, key string, r Rate) error {
	if key == "" {
		return nil
	}
	if err := l.waitPause(ctx, key); err != nil {
		return err
	}
	if r.PerSecond <= 0 || math.IsInf(r.PerSecond, 1) {
		return nil
	}
	now := l.now()
	res := l.bucket(key, r, now).ReserveN(now, 1)
	if !res.OK() {
		return &Error{Kind: KindRateLimited, Message: "local rate limit cannot grant a request"}
	}
	d := res.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		res.CancelAt(now)
		return &Error{
			Kind:      KindRateLimited,
			Retryable: true,
			Message:   fmt.Sprintf("local rate limit: next slot in %s, after the deadline", d),
		}
	}
	if err := sleeper(l.Sleep)(ctx, d); err != nil {
		res.CancelAt(l.now())
		return ctxError(err)
	}
	return nil
}

// Len returns how many buckets are held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// bucket returns key's bucket, creating it or applying a changed rate (a
// connector reloaded with a new rateLimit).
func (l *Limiter) bucket(key string, r Rate, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[string]*rate.Limiter)
		l.lastSweep = now
	}
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b := l.buckets[key]
	switch {
	case b == nil:
		b = rate.NewLimiter(rate.Limit(r.PerSecond), r.burst())
		l.buckets[key] = b
	case b.Limit() != rate.Limit(r.PerSecond) || b.Burst() != r.burst():
		b.SetLimitAt(now, rate.Limit(r.PerSecond))
		b.SetBurstAt(now, r.burst())
	}
	return b
}

// sweep drops the buckets that are full again and the pauses that are
// over. l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(l.buckets, k)
		}
	}
	for k, until := range l.paused {
		if !now.Before(until) {
			delete(l.paused, k)
		}
	}
	l.lastSweep = now
}

// sleeper returns s, or a timer-based sleep that returns early with ctx's
// error when ctx ends.
func sleeper(s func(context.Context, time.Duration) error) func(context.Context, time.Duration) error {
	if s != nil {
		return s
	}
	return sleepCtx
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
