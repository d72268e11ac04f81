// Package testkit is what Membrane's tests share: the real peers they talk
// to — the OAuth2 server from npm and Debian's chromium — started for one
// test and stopped with it; workspaces written to a temporary directory;
// a buffer read while something writes to it. A test whose peer is missing
// here is skipped, and fails in CI, where the setup scripts install every
// peer. Only tests import it.
package testkit

import (
	"bytes"
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

// oauthDir is runtime/oauth/testdata, where install.sh puts the server.
func oauthDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "runtime", "oauth", "testdata")
}

// OAuthServer starts oauth2-mock-server (runtime/oauth/testdata/
// oauth-server.mjs) issuing tokens that live ttl seconds to one client,
// and returns its URL once it listens.
func OAuthServer(t testing.TB, ttl int, clientID, clientSecret string) string {
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
	cmd.Env = append(os.Environ(), "TOKEN_TTL="+strconv.Itoa(ttl), "CLIENT_ID="+clientID, "CLIENT_SECRET="+clientSecret)
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
