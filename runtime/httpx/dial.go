package httpx

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Outbound safety. The check runs in the dialer, on the addresses the host
// name resolved to, right before connect: a host that answers DNS with a
// public address first and a private one later (DNS rebinding) is still
// caught, because every new connection is checked on what it will really
// connect to, and the connection goes to that very address.

var (
	// reserved ranges are never dialed unless AllowedNetworks names them:
	// AllowPrivate does not open them, since they hold the cloud metadata
	// service (169.254.169.254) and addresses that reach the local host in
	// unexpected ways (0.0.0.0 connects to loopback on Linux).
	reserved = prefixes(
		"0.0.0.0/8", "240.0.0.0/4", // "this network", reserved and broadcast
		"fec0::/10", "100::/64", // deprecated site-local, discard-only
	)
	// private ranges (beyond what netip's IsPrivate and IsLoopback know) are
	// dialed only with AllowPrivate.
	private = prefixes(
		"100.64.0.0/10",  // carrier-grade NAT
		"192.0.0.0/24",   // IETF protocol assignments
		"198.18.0.0/15",  // benchmarking
		"64:ff9b:1::/48", // local-use NAT64
	)
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	sixTo = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func inAny(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// guard decides which resolved addresses may be dialed.
type guard struct {
	allowPrivate bool
	allowed      []netip.Prefix
}

// check returns a KindRefused *Error when ip may not be dialed.
func (g *guard) check(host string, ip netip.Addr) error {
	// Prefix.Contains never matches a zoned or a v4-mapped address.
	ip = ip.WithZone("").Unmap()
	if inAny(g.allowed, ip) {
		return nil
	}
	// NAT64 and 6to4 addresses carry an IPv4 address that the translator
	// will reach: judge that one too.
	if v4, ok := embeddedV4(ip); ok {
		if err := g.check(host, v4); err != nil {
			return err
		}
	}
	what := ""
	switch {
	case ip.IsUnspecified():
		what = "unspecified"
	case ip.IsLinkLocalUnicast():
		what = "link-local"
	case ip.IsMulticast():
		what = "multicast"
	case inAny(reserved, ip):
		what = "reserved"
	case g.allowPrivate:
		return nil
	case ip.IsLoopback():
		what = "loopback"
	case ip.IsPrivate(), inAny(private, ip):
		what = "private"
	default:
		return nil
	}
	return &Error{
		Kind:    KindRefused,
		Message: fmt.Sprintf("%s resolves to %s, a %s address", host, ip, what),
	}
}

func embeddedV4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case !ip.Is6():
		return netip.Addr{}, false
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixTo.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// dialError marks a failure before the connection was established: nothing
// was sent, so any method may be retried.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dialer is the fasthttp DialTimeout of one settings bucket.
type dialer struct {
	guard          *guard
	connectTimeout time.Duration
	lookup         func(ctx context.Context, host string) ([]netip.Addr, error)
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
}

// dialTimeout connects to addr ("host:port"); timeout is what is left of the
// request's own deadline, 0 when it has none.
func (d *dialer) dialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if d.connectTimeout > 0 && (timeout <= 0 || d.connectTimeout < timeout) {
		timeout = d.connectTimeout
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &dialError{err}
	}
	port, err := parsePort(portStr)
	if err != nil {
		return nil, &dialError{err}
	}
	var ips []netip.Addr
	if ip, perr := netip.ParseAddr(host); perr == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = d.lookup(ctx, host); err != nil {
		return nil, &dialError{err}
	}
	// IPv4 first: IPv6 is still broken on many networks, and a failed v6
	// attempt would eat the connect timeout.
	slices.SortStableFunc(ips, func(a, b netip.Addr) int {
		return cmp.Compare(boolInt(a.Unmap().Is6()), boolInt(b.Unmap().Is6()))
	})
	var refused, last error
	for _, ip := range ips {
		if err := d.guard.check(host, ip); err != nil {
			refused = err
			continue
		}
		conn, err := d.dial(ctx, "tcp", netip.AddrPortFrom(ip, port).String())
		if err == nil {
			return conn, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	if last == nil && refused != nil {
		return nil, refused
	}
	if last == nil {
		last = fmt.Errorf("%s has no address", host)
	}
	return nil, &dialError{last}
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func lookupNetIP(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

var netDialer = &net.Dialer{KeepAlive: 30 * time.Second}
