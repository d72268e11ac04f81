// Package typescript_test runs the TypeScript client's tests (test/*.ts,
// compiled with the pinned tsc, run with node's test runner) against a real
// `membrane serve`: the binary built from this module, on SQLite, serving
// testdata/workspace, whose connector calls a loopback CRM.
package typescript_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
)

const (
	install         = "clients/typescript/install.sh"
	workspaceKey    = "ts-client-test" // testdata/workspace/membrane.yaml's key
	workspaceSecret = "ts-client-test-workspace-secret-0123456789abcdef"
	apiKey          = "crm_key_0123456789abcdef"
	email           = "ada@example.com"
)

func TestClientAgainstServe(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testkit.SkipOrFail(t, "node is not on PATH", install)
	}
	if _, err := os.Stat(filepath.Join("node_modules", "typescript", "bin", "tsc")); err != nil {
		testkit.SkipOrFail(t, "the TypeScript client's packages are not installed", install)
	}
	crm := startCRM(t)
	dir := testkit.CopyWorkspace(t, filepath.Join("testdata", "workspace"), map[string]string{"{{API}}": crm.URL})
	publicPEM, privatePEM := es256Pair(t)
	url := serve(t, dir, publicPEM)

	// Compile the client and its tests with the pinned tsc into dist/.
	tsc := exec.Command(node, filepath.Join("node_modules", "typescript", "bin", "tsc"), "-p", ".")
	if out, err := tsc.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
	test := exec.Command(node, "--test", "--test-reporter=tap", "dist/test/")
	test.Env = append(os.Environ(),
		"MEMBRANE_URL="+url,
		"MEMBRANE_WORKSPACE="+workspaceKey,
		"MEMBRANE_WORKSPACE_SECRET="+workspaceSecret,
		"MEMBRANE_TEST_API_KEY="+apiKey,
		"MEMBRANE_TEST_EMAIL="+email,
		"MEMBRANE_TEST_ES256_KEY="+privatePEM)
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	// Every test ran: none was skipped for want of the server.
	for _, want := range []string{"# fail 0", "# skipped 0", "# todo 0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("node --test does not report %q:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindStringSubmatch(string(out)); m == nil || m[1] == "0" {
		t.Errorf("node --test passed no test:\n%s", out)
	}
	// The action reached the app, once, with what the client sent.
	if got := crm.contacts(); len(got) != 1 || got[0]["email"] != email || got[0]["name"] != "Ada Lovelace" {
		t.Errorf("the CRM holds %v, want the one contact the client created", got)
	}
}

// crm is the app the workspace's connector calls: GET /me proves the API
// key, POST /contacts creates a contact.
type crm struct {
	*httptest.Server
	mu   sync.Mutex
	made []map[string]any
}

func startCRM(t *testing.T) *crm {
	c := &crm{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Api-Key") != apiKey {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid API key"}`)
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /me":
			io.WriteString(w, `{"account":"acme"}`)
		case "POST /contacts":
			var in map[string]any
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			c.mu.Lock()
			c.made = append(c.made, in)
			id := fmt.Sprintf("c_%d", len(c.made))
			c.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"id": id, "email": in["email"], "name": in["name"]})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *crm) contacts() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.made...)
}

// es256Pair is a P-256 key pair in PEM: the public key for the server
// (MEMBRANE_TOKEN_PUBLIC_KEYS), the private one (PKCS #8) for the client.
func es256Pair(t *testing.T) (public, private string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}))
}

// serve builds membrane from this module and runs `membrane serve` on
// dir, on SQLite, until the test ends; it returns the server's URL once
// the server says it serves.
func serve(t *testing.T, dir, publicKeys string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "membrane")
	build := exec.Command("go", "build", "-o", bin, "./cmd/membrane")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/membrane: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url := "http://" + addr
	cmd := exec.Command(bin, "serve", "--dir", dir, "--store", "sqlite:"+filepath.Join(t.TempDir(), "membrane.db"),
		"--addr", addr, "--public-url", url, "--allow-private", "--log-format", "json")
	cmd.Env = append(os.Environ(), "MEMBRANE_WORKSPACE_SECRET="+workspaceSecret, "MEMBRANE_TOKEN_PUBLIC_KEYS="+publicKeys)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	serving := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		lines := bufio.NewScanner(stderr)
		lines.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for lines.Scan() {
			fmt.Fprintln(logs, lines.Text())
			var l struct{ Msg string }
			if json.Unmarshal(lines.Bytes(), &l) == nil && l.Msg == "serving" {
				once.Do(func() { close(serving) })
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if t.Failed() {
			t.Logf("membrane serve's log:\n%s", logs.String())
		}
	})
	select {
	case <-serving:
	case <-exited:
		t.Fatalf("membrane serve exited before serving:\n%s", logs.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("membrane serve did not say it serves:\n%s", logs.String())
	}
	return url
}
