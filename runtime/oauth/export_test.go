package oauth

import "testing"

// For package oauth_test, whose tests import packages (runtime) that may
// import this one.

// TestServer is the OAuth2 test server of testdata/oauth-server.mjs.
type TestServer struct {
	s *authServer
	t *testing.T
}

// StartTestServer starts it for t, tokens living ttl seconds.
func StartTestServer(t *testing.T, ttl int) *TestServer {
	return &TestServer{s: startAuthServer(t, ttl), t: t}
}

func (s *TestServer) URL() string { return s.s.URL }

func (s *TestServer) TokenRequests() int { return s.s.tokenRequests(s.t) }

const (
	TestClientID     = testClientID
	TestClientSecret = testClientSecret
)
