package oauth

import "testing"

// For package oauth_test, whose tests import packages (runtime) that may
// import this one.

// Peer is one of the OAuth2 servers the tests run against (peers).
type Peer struct{ p peer }

// Peers are the servers: go-oauth2 in process, and npm's
// oauth2-mock-server where Node is installed.
func Peers() []Peer {
	var ps []Peer
	for _, p := range peers() {
		ps = append(ps, Peer{p})
	}
	return ps
}

func (p Peer) Name() string { return p.p.name }

// TestServer is a running peer.
type TestServer struct {
	s authServer
	t *testing.T
}

// Start starts the peer for t, tokens living ttl seconds.
func (p Peer) Start(t *testing.T, ttl int) *TestServer {
	return &TestServer{s: p.p.start(t, ttl), t: t}
}

func (s *TestServer) URL() string { return s.s.URL() }

func (s *TestServer) TokenRequests() int { return s.s.tokenRequests(s.t) }

const (
	TestClientID     = testClientID
	TestClientSecret = testClientSecret
)
