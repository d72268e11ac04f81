// Package testkit is what Membrane's tests share: the real peers they talk
// to — two OAuth2 servers (go-oauth2 in process, and npm's
// oauth2-mock-server) and Debian's chromium — started for one test and
// stopped with it; workspaces written to a temporary directory; a buffer
// read while something writes to it. A test whose peer is missing here is
// skipped, and fails in CI, where the setup scripts install every peer.
// Only tests import it.
package testkit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SkipOrFail skips t because why, or fails it when CI is set; install
// names what installs the missing peer.
func SkipOrFail(t testing.TB, why, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: %s must install it)", why, install)
	}
	t.Skipf("%s; run %s", why, install)
}

// The client every OAuth2 test server knows, and the user it consents
// as: the subject (sub) of the access tokens it signs for a code.
const (
	OAuthClientID     = "membrane-test"
	OAuthClientSecret = "membrane-test-secret"
	OAuthSubject      = "johndoe"
)

// OAuthPeer is an OAuth2 authorization server the tests run against.
// Both peers serve GET /authorize (consent given at once: a redirect to
// the callback with a code), POST /token (authorization code with PKCE,
// refresh, client credentials) and GET /jwks (the keys its RS256 access
// tokens are signed with), to the one client OAuthClientID.
type OAuthPeer struct {
	// Name names the server, and the subtests EachOAuthPeer runs on it.
	Name string
	// PKCEError is the error code the server answers a code_verifier that
	// does not match the code_challenge with, and PKCESays is part of its
	// error_description.
	PKCEError, PKCESays string

	start func(t testing.TB, ttl int) OAuthServer
}

// The peers: go-oauth2 in process, always there; npm's oauth2-mock-server,
// started with Node (skipped where Node or the package is missing, failed
// then when CI is set).
var (
	GoOAuth2         = OAuthPeer{Name: "go-oauth2", PKCEError: "invalid_grant", PKCESays: "grant", start: startGoOAuth2} // RFC 7636 §4.6
	OAuth2MockServer = OAuthPeer{Name: "oauth2-mock-server", PKCEError: "invalid_request", PKCESays: "code_verifier", start: startNodeOAuth2}
)

// OAuthPeers are both peers, the in-process one first.
func OAuthPeers() []OAuthPeer { return []OAuthPeer{GoOAuth2, OAuth2MockServer} }

// EachOAuthPeer runs test once on each peer, as parallel subtests of t
// named after them.
func EachOAuthPeer(t *testing.T, test func(t *testing.T, p OAuthPeer)) {
	t.Helper()
	for _, p := range OAuthPeers() {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			test(t, p)
		})
	}
}

// Start starts the peer for t, stopped when t ends, its access tokens
// living ttl seconds.
func (p OAuthPeer) Start(t testing.TB, ttl int) OAuthServer {
	t.Helper()
	return p.start(t, ttl)
}

// OAuthServer is a running peer, with what tests ask of it beyond OAuth2:
// what it counted, and failures it is told to answer.
type OAuthServer interface {
	// URL is the server's base URL: URL()+"/token" is its token endpoint.
	URL() string
	// Stats is what the server counted.
	Stats(t testing.TB) OAuthStats
	// TokenRequests is how many requests reached POST /token.
	TokenRequests(t testing.TB) int
	// Next changes the server's next token response (a queue: one
	// override a response).
	Next(t testing.TB, o OAuthOverride)
	// Slow makes token requests take long enough that concurrent callers
	// arrive while one is under way, until release is called (the Node
	// server waits 200 ms in each; go-oauth2 is held until release).
	Slow(t testing.TB) (release func())
	// Revoke invalidates every refresh token the server issued.
	Revoke(t testing.TB)
}

// OAuthStats is what a server counted of its token requests: how many,
// by grant, the client authentication each used ("basic", "body", or
// "bad" when refused), and the refresh tokens still valid.
type OAuthStats struct {
	TokenRequests     int            `json:"tokenRequests"`
	Grants            map[string]int `json:"grants"`
	ClientAuth        []string       `json:"clientAuth"`
	LiveRefreshTokens int            `json:"liveRefreshTokens"`
}

// OAuthOverride changes one token response. A Status of 300 or more
// stands in for the server's answer, with Body: nothing is issued, and a
// refresh token sent stays valid. Otherwise the grant runs, then Status
// and Body replace the answer's and the fields in Omit are dropped from
// it.
type OAuthOverride struct {
	Status int      `json:"status,omitempty"`
	Body   any      `json:"body,omitempty"`
	Omit   []string `json:"omit,omitempty"`
}

// nodeOAuth2 is oauth2-mock-server, from npm, started by
// runtime/oauth/testdata/oauth-server.mjs, which adds what the peers
// share to it, and control endpoints (/__control/...) for the rest.
type nodeOAuth2 struct {
	url string
}

func startNodeOAuth2(t testing.TB, ttl int) OAuthServer {
	t.Helper()
	return &nodeOAuth2{url: startNode(t, ttl)}
}

func (s *nodeOAuth2) URL() string { return s.url }

func (s *nodeOAuth2) Stats(t testing.TB) OAuthStats {
	t.Helper()
	var st OAuthStats
	s.control(t, http.MethodGet, "stats", nil, &st)
	return st
}

func (s *nodeOAuth2) TokenRequests(t testing.TB) int {
	t.Helper()
	return s.Stats(t).TokenRequests
}

func (s *nodeOAuth2) Next(t testing.TB, o OAuthOverride) {
	t.Helper()
	s.control(t, http.MethodPost, "next", o, nil)
}

func (s *nodeOAuth2) Slow(t testing.TB) func() {
	t.Helper()
	s.control(t, http.MethodPost, "config", map[string]any{"delayMs": 200}, nil)
	return func() {}
}

func (s *nodeOAuth2) Revoke(t testing.TB) {
	t.Helper()
	s.control(t, http.MethodPost, "revoke", map[string]any{}, nil)
}

func (s *nodeOAuth2) control(t testing.TB, method, name string, in, out any) {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			t.Fatalf("control %s: %v", name, err)
		}
	}
	req, err := http.NewRequest(method, s.url+"/__control/"+name, &body)
	if err != nil {
		t.Fatalf("control %s: %v", name, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("control %s: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("control %s: status %d", name, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("control %s: %v", name, err)
		}
	}
}

// oauthDir is runtime/oauth/testdata, where install.sh puts the server.
func oauthDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "runtime", "oauth", "testdata")
}

// startNode starts oauth2-mock-server (runtime/oauth/testdata/
// oauth-server.mjs) issuing tokens that live ttl seconds to the client
// OAuthClientID, and returns its URL once it listens.
func startNode(t testing.TB, ttl int) string {
	t.Helper()
	const install = "runtime/oauth/testdata/install.sh"
	dir := oauthDir()
	node, err := exec.LookPath("node")
	if err != nil {
		SkipOrFail(t, "node is not on PATH", install)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oauth2-mock-server", "package.json")); err != nil {
		SkipOrFail(t, "oauth2-mock-server is not installed", install)
	}
	cmd := exec.Command(node, "oauth-server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TOKEN_TTL="+strconv.Itoa(ttl), "CLIENT_ID="+OAuthClientID, "CLIENT_SECRET="+OAuthClientSecret)
	out := &firstLine{ready: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe() // the server exits when it closes
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the OAuth2 server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("OAuth2 server output:\n%s", out.String())
		}
	})
	select {
	case u := <-out.ready:
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("OAuth2 server: unexpected ready line %q", u)
		}
		return u
	case err := <-exited:
		t.Fatalf("the OAuth2 server exited before it was ready (%v):\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the OAuth2 server printed no ready line:\n%s", out.String())
	}
	return ""
}

// firstLine keeps a process's output and hands over its first line.
type firstLine struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	sent  bool
	ready chan string
}

func (w *firstLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		if line, _, ok := strings.Cut(w.buf.String(), "\n"); ok {
			w.sent = true
			w.ready <- strings.TrimSpace(line)
		}
	}
	return len(p), nil
}

func (w *firstLine) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
