package httpx

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve starts a fasthttp server on a real loopback port and returns its
// host:port.
func serve(t testing.TB, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h, Logger: quiet{}}
	go s.Serve(ln) //nolint:errcheck
	t.Cleanup(func() {
		// Close the listener and idle connections without Shutdown's
		// 100ms polling for busy ones.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.ShutdownWithContext(ctx)
	})
	return ln.Addr().String()
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// rawServe accepts connections on a real loopback port and hands each to fn.
func rawServe(t testing.TB, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go fn(c)
		}
	}()
	return ln.Addr().String()
}

// sleeps records the waits a client asks for without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// testClient is a client for loopback servers that never really sleeps.
func testClient(cfg Config) (*Client, *sleeps) {
	sl := &sleeps{}
	cfg.AllowPrivate = true
	if cfg.Sleep == nil {
		cfg.Sleep = sl.sleep
	}
	return New(cfg), sl
}

// fastRetry keeps backoffs tiny in case a real sleeper is used.
var fastRetry = RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}

func mustKind(t *testing.T, err error, k Kind) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if e.Kind != k {
		t.Fatalf("kind = %q, want %q (%v)", e.Kind, k, err)
	}
	return e
}
