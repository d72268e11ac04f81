package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// The reliability tests run the real binary, as an operator does, so that
// SIGKILL ends it the way a crash or an OOM kill does: no deferred code,
// no graceful shutdown, the store left mid-transaction.

// asMembraneEnv makes the test binary run as the membrane command: its
// TestMain calls main's run with the arguments, as main does. The tests
// start it as a process of its own, with no build step, compiled as the
// test is (with the race detector under -race).
const asMembraneEnv = "MEMBRANE_TEST_RUN_AS_MEMBRANE"

func TestMain(m *testing.M) {
	if os.Getenv(asMembraneEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// membraneBinary is the executable that runs as `membrane` when
// asMembraneEnv is set: this test binary.
func membraneBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// crashWorkspaceSecret is the workspace secret the servers of these tests
// verify tenant tokens with.
const crashWorkspaceSecret = "crash-test-workspace-secret-0123456789abcdef0123456789"

// node is one `membrane serve` process of a test; restarts keep the
// workspace, the store and the address.
type node struct {
	t     *testing.T
	bin   string
	dir   string // workspace
	dsn   string
	addr  string // 127.0.0.1:port, the same across restarts
	extra []string

	mu     sync.Mutex
	proc   *exec.Cmd
	exited chan struct{}
	// up is closed once the server serves; kill replaces it before the
	// signal, so whoever saw the server die waits on the next one.
	up   chan struct{}
	logs *testkit.Buffer // stderr of every run, in order
	runs int
}

// newNode writes nothing: dir is a workspace written by the test. The
// store is SQLite in its own temporary directory.
func newNode(t *testing.T, dir string, extra ...string) *node {
	t.Helper()
	n := &node{t: t, bin: membraneBinary(t), dir: dir, dsn: "sqlite:" + filepath.Join(t.TempDir(), "membrane.db"),
		logs: &testkit.Buffer{}, extra: extra, up: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	ln.Close()
	t.Cleanup(func() {
		if n.running() {
			n.kill()
		}
		if t.Failed() {
			t.Logf("server logs (the last lines; MEMBRANE_CRASH_LOGS=DIR keeps them all):\n%s", tail(n.logs.String(), 80))
		}
		if dir := os.Getenv("MEMBRANE_CRASH_LOGS"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, t.Name()+".log"), []byte(n.logs.String()), 0o644)
		}
	})
	return n
}

func (n *node) url() string { return "http://" + n.addr }

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// start runs `membrane serve` and returns once it serves (its /readyz
// answers 200).
func (n *node) start() {
	t := n.t
	t.Helper()
	n.mu.Lock()
	n.runs++
	fmt.Fprintf(n.logs, "--- run %d\n", n.runs)
	args := append([]string{"serve", "--dir", n.dir, "--store", n.dsn, "--addr", n.addr,
		"--public-url", n.url(), "--allow-private", "--log-format", "json", "--log-level", "info",
		// What a killed server held (a poll's connection, webhooks being
		// processed) is taken over within 2 s.
		"--poll-lease", "2s", "--inbox-lease", "2s"}, n.extra...)
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(os.Environ(), asMembraneEnv+"=1", "MEMBRANE_WORKSPACE_SECRET="+crashWorkspaceSecret)
	cmd.Stdout = n.logs
	cmd.Stderr = n.logs
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	n.proc, n.exited = cmd, exited
	n.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	ready := func() bool {
		resp, err := http.Get(n.url() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	waitUntil(t, "the server to serve", func() bool {
		select {
		case <-exited:
			t.Fatalf("membrane serve exited (%v) before serving:\n%s", cmd.ProcessState, tail(n.logs.String(), 40))
		default:
		}
		return ready()
	})
	n.mu.Lock()
	close(n.up)
	n.mu.Unlock()
}

// serving is a channel closed while the server serves: a client that saw
// it die waits on it for the restart.
func (n *node) serving() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// kill ends the server with SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.mu.Lock()
	cmd, exited := n.proc, n.exited
	n.up = make(chan struct{})
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// quit sends the server SIGQUIT: it prints its goroutines and exits.
func (n *node) quit() {
	n.mu.Lock()
	cmd, exited := n.proc, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// stop ends the server with SIGTERM (a graceful stop) and checks it
// exited cleanly.
func (n *node) stop() {
	t := n.t
	t.Helper()
	n.mu.Lock()
	cmd, exited := n.proc, n.exited
	n.up = make(chan struct{})
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	if !cmd.ProcessState.Success() {
		t.Errorf("membrane serve stopped with %v:\n%s", cmd.ProcessState, tail(n.logs.String(), 40))
	}
}

// openStore opens the node's store in the test, the server stopped.
func (n *node) openStore() store.Store {
	t := n.t
	t.Helper()
	if n.running() {
		t.Fatal("openStore while the server runs")
	}
	st, err := server.OpenStore(context.Background(), server.Config{Dir: n.dir, Store: n.dsn}, storetest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// outbox is every outbox entry whose type starts with one of prefixes,
// read through the store: what is not routed yet is routed (to no
// destination), then the whole delivery log is read, each entry once.
func (n *node) outbox(prefixes ...string) []store.Event {
	t := n.t
	t.Helper()
	st := n.openStore()
	ctx := context.Background()
	for {
		routed, err := st.Deliveries().Route(ctx, 100, func(*store.Event) []string { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(routed) == 0 {
			break
		}
	}
	var out []store.Event
	for after := int64(0); ; {
		batch, err := st.Deliveries().Log(ctx, "", after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		for _, d := range batch {
			after = d.Seq
			for _, p := range prefixes {
				if strings.HasPrefix(d.Type, p) {
					out = append(out, d)
					break
				}
			}
		}
	}
	return out
}

// logLines are the JSON log lines of every run that have all of attrs.
func (n *node) logLines(attrs map[string]string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(n.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
lines:
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		for k, v := range attrs {
			if fmt.Sprint(m[k]) != v {
				continue lines
			}
		}
		out = append(out, m)
	}
	return out
}

// tenantToken mints a token the node's server accepts for tenant.
func tenantToken(t *testing.T, workspace, tenant string) string {
	t.Helper()
	m, err := tenancy.NewMinter(workspace, []byte(crashWorkspaceSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(tenancy.Claims{Tenant: tenant}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends a JSON request to the node's API and decodes a JSON answer
// into out (when not nil); it returns the status.
func (n *node) call(token, method, path string, in, out any) int {
	t := n.t
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.url()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil && resp.StatusCode < 300 {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	if resp.StatusCode >= 300 && out == nil {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// mustCall is call that fails the test unless the status is want.
func (n *node) mustCall(token, method, path string, in any, want int) map[string]any {
	n.t.Helper()
	var out map[string]any
	if got := n.call(token, method, path, in, &out); got != want {
		n.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, want, out)
	}
	return out
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// pendingInbox counts the webhook payloads stored and not yet processed,
// read from the SQLite file while the server runs (a second reader of a
// WAL database).
func (n *node) pendingInbox() int {
	n.t.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(n.dsn, "sqlite:")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		n.t.Fatal(err)
	}
	defer db.Close()
	var k int
	if err := db.QueryRow(`SELECT count(*) FROM webhook_inbox WHERE status = 'pending'`).Scan(&k); err != nil {
		n.t.Fatalf("counting the webhook inbox: %v", err)
	}
	return k
}

// waitInbox waits until the webhook inbox holds nothing to process,
// failing after crashWait.
func (n *node) waitInbox() {
	n.t.Helper()
	deadline := time.Now().Add(crashWait)
	for n.pendingInbox() > 0 {
		if time.Now().After(deadline) {
			n.quit()
			n.t.Fatalf("waited %v for the webhook inbox to be processed", crashWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
