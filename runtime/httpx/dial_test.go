package httpx

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestGuard(t *testing.T) {
	strict := &guard{}
	lax := &guard{allowPrivate: true}
	opened := &guard{allowed: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("10.1.0.0/16")}}
	for _, tc := range []struct {
		ip                  string
		strict, lax, opened bool // allowed?
	}{
		{"8.8.8.8", true, true, true},
		{"2606:4700::1111", true, true, true},
		{"127.0.0.1", false, true, false},
		{"::1", false, true, false},
		{"::ffff:127.0.0.1", false, true, false},
		{"10.0.0.1", false, true, false},
		{"10.1.2.3", false, true, true},
		{"172.16.0.1", false, true, false},
		{"192.168.1.1", false, true, false},
		{"100.64.0.1", false, true, false},
		{"fd00::1", false, true, false},
		{"169.254.169.254", false, false, true},
		{"::ffff:169.254.169.254", false, false, true},
		{"64:ff9b::a9fe:a9fe", false, false, true}, // NAT64 of the metadata service
		{"64:ff9b::7f00:1", false, true, false},    // NAT64 of loopback
		{"2002:7f00:1::1", false, true, false},     // 6to4 of loopback
		{"fe80::1", false, false, false},
		{"fe80::1%eth0", false, false, false},
		{"0.0.0.0", false, false, false},
		{"::", false, false, false},
		{"224.0.0.1", false, false, false},
		{"ff02::1", false, false, false},
		{"255.255.255.255", false, false, false},
	} {
		ip := netip.MustParseAddr(tc.ip)
		for _, g := range []struct {
			name string
			g    *guard
			want bool
		}{{"strict", strict, tc.strict}, {"allowPrivate", lax, tc.lax}, {"allowedNetworks", opened, tc.opened}} {
			err := g.g.check("h", ip)
			if (err == nil) != g.want {
				t.Errorf("%s %s: err %v, want allowed=%v", g.name, tc.ip, err, g.want)
			}
			if err != nil && KindOf(err) != KindRefused {
				t.Errorf("%s %s: kind %q", g.name, tc.ip, KindOf(err))
			}
		}
	}
}

func TestRefusedLoopback(t *testing.T) {
	var hits atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { hits.Add(1) })
	c := New(Config{}) // AllowPrivate off
	_, err := c.Do(context.Background(), &Request{URL: "http://" + addr})
	e := mustKind(t, err, KindRefused)
	if e.Retryable || e.Attempts != 1 || hits.Load() != 0 {
		t.Fatalf("retryable %v attempts %d hits %d", e.Retryable, e.Attempts, hits.Load())
	}
	if !strings.Contains(err.Error(), "loopback") {
		t.Errorf("message %q", err)
	}

	// AllowedNetworks opens a range without AllowPrivate.
	c = New(Config{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if _, err := c.Do(context.Background(), &Request{URL: "http://" + addr}); err != nil || hits.Load() != 1 {
		t.Fatalf("AllowedNetworks: %v, hits %d", err, hits.Load())
	}
}

// countDials replaces the client's connect with a counter in front of the
// real one: a refused address must never reach it.
func countDials(c *Client) *atomic.Int32 {
	var n atomic.Int32
	real := c.dial
	c.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return real(ctx, network, addr)
	}
	return &n
}

func TestMetadataRefusedBeforeConnect(t *testing.T) {
	// Even with AllowPrivate, and whatever the URL's spelling.
	c, _ := testClient(Config{})
	dials := countDials(c)
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://[::ffff:169.254.169.254]/latest/meta-data/",
		"http://0.0.0.0:80/",
	} {
		_, err := c.Do(context.Background(), &Request{URL: u})
		mustKind(t, err, KindRefused)
	}
	if dials.Load() != 0 {
		t.Fatalf("%d connection attempts left for refused addresses", dials.Load())
	}
}

func TestResolvedAddressChecked(t *testing.T) {
	var hits atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { hits.Add(1) })
	_, port, _ := net.SplitHostPort(addr)
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "rebind.example":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		case "mixed.example": // metadata first, loopback second
			return []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("127.0.0.1")}, nil
		case "metadata.example":
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}

	// A public-looking name that resolves to loopback is refused.
	c := New(Config{})
	c.lookup = lookup
	dials := countDials(c)
	_, err := c.Do(context.Background(), &Request{URL: "http://rebind.example:" + port})
	mustKind(t, err, KindRefused)
	if dials.Load() != 0 || hits.Load() != 0 {
		t.Fatalf("dials %d hits %d", dials.Load(), hits.Load())
	}

	// With AllowPrivate the refused address is skipped, the other dialed.
	c, _ = testClient(Config{})
	c.lookup = lookup
	dials = countDials(c)
	if _, err := c.Do(context.Background(), &Request{URL: "http://mixed.example:" + port}); err != nil {
		t.Fatal(err)
	}
	if dials.Load() != 1 || hits.Load() != 1 {
		t.Fatalf("dials %d hits %d", dials.Load(), hits.Load())
	}
	_, err = c.Do(context.Background(), &Request{URL: "http://metadata.example:" + port})
	mustKind(t, err, KindRefused)

	// An unknown host is a final network error.
	_, err = c.Do(context.Background(), &Request{URL: "http://nowhere.example:" + port})
	if e := mustKind(t, err, KindNetwork); e.Retryable || e.Attempts != 1 {
		t.Fatalf("NXDOMAIN retried: %+v", e)
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		t.Fatalf("cause lost: %v", err)
	}
}

func TestAllowedHost(t *testing.T) {
	var hits atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { hits.Add(1) })
	_, port, _ := net.SplitHostPort(addr)
	c, _ := testClient(Config{})
	dials := countDials(c)
	for _, allowed := range []string{"api.example.com", "127.0.0.1", "127.0.0.1:1"} {
		_, err := c.Do(context.Background(), &Request{URL: "http://" + addr, AllowedHost: allowed})
		mustKind(t, err, KindRefused)
	}
	if dials.Load() != 0 {
		t.Fatal("dialed a host that is not allowed")
	}
	for _, allowed := range []string{addr, "127.0.0.1:" + port} {
		if _, err := c.Do(context.Background(), &Request{URL: "http://" + addr, AllowedHost: allowed}); err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("hits %d", hits.Load())
	}
}

func TestHostAllowedDefaultPort(t *testing.T) {
	u := &fasthttp.URI{}
	for _, tc := range []struct {
		url, allowed string
		want         bool
	}{
		{"https://API.Example.com/x", "api.example.com", true},
		{"https://api.example.com:443/x", "api.example.com", true},
		{"https://api.example.com/x", "api.example.com:443", true},
		{"http://api.example.com/x", "api.example.com:443", false},
		{"https://api.example.com:8443/x", "api.example.com", false},
		{"https://api.example.com.evil.io/x", "api.example.com", false},
		{"https://[::1]:8080/x", "[::1]:8080", true},
	} {
		if err := u.Parse(nil, []byte(tc.url)); err != nil {
			t.Fatal(err)
		}
		if got := hostAllowed(u, tc.allowed); got != tc.want {
			t.Errorf("%s vs %s: %v", tc.url, tc.allowed, got)
		}
	}
}
