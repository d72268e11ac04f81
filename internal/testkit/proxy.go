package testkit

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a loopback TCP proxy in front of a real server, which a test
// cuts and restores to stage an outage of that server: Cut stops
// listening (new connections are refused) and resets every connection
// through it, as a crashed or unplugged server would; Stall resets them
// too but keeps accepting connections it never answers, as a server
// behind a dropped route would; Restore serves again on the same address.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu      sync.Mutex
	ln      net.Listener
	stalled bool
	conns   map[net.Conn]struct{} // passing through, or held silent
	wg      sync.WaitGroup        // the accept loop and the copiers
}

// NewProxy starts a proxy to target (host:port) on a free loopback port.
// It stops when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Cut refuses new connections and resets the open ones. It returns once
// nothing passes through the proxy any more.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.stalled = false
	p.resetLocked()
	p.mu.Unlock()
	p.wg.Wait()
}

// Stall resets the open connections and holds every new one silent:
// connecting works, nothing comes back.
func (p *Proxy) Stall() {
	p.t.Helper()
	p.mu.Lock()
	p.stalled = true
	p.resetLocked()
	listening := p.ln != nil
	p.mu.Unlock()
	if !listening {
		p.listen()
	}
}

// Restore serves again: it listens on the proxy's address if it was cut,
// and drops the connections a stall held.
func (p *Proxy) Restore() {
	p.t.Helper()
	p.mu.Lock()
	p.stalled = false
	p.resetLocked() // only stalled ones can be open here
	listening := p.ln != nil
	p.mu.Unlock()
	if !listening {
		p.listen()
	}
}

// listen listens on the proxy's address again.
func (p *Proxy) listen() {
	p.t.Helper()
	// The port was ours a moment ago; another socket may hold it briefly.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("proxy: listen on %s again: %v", p.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// resetLocked resets every connection the proxy holds.
func (p *Proxy) resetLocked() {
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, not a polite close
		}
		c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			p.pass(c)
		}
	})
}

// pass connects c to the target and copies both ways until either side
// closes or Cut resets them; while stalled, it holds c silent instead.
func (p *Proxy) pass(c net.Conn) {
	p.mu.Lock()
	if p.stalled {
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil || p.stalled { // cut or stalled meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := func() {
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, up)
		p.mu.Unlock()
		c.Close()
		up.Close()
	}
	var once sync.Once
	copyAll := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // ends with either side, or with a reset
		once.Do(done)
	}
	p.wg.Go(func() { copyAll(up, c) })
	p.wg.Go(func() { copyAll(c, up) })
}
