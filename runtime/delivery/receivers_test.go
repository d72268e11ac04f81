package delivery

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/membrane-dev/membrane/internal/testkit"
)

// receipt is one request a verifying receiver got.
type receipt struct {
	ID     string `json:"id"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
	Body   string `json:"body"`
}

// receiver is a webhook backend that verifies every delivery with a
// vendor's verifier, against each of its secrets on its own.
type receiver struct {
	URL string
	Got chan receipt
}

// goReceiver verifies with Standard Webhooks' Go library.
func goReceiver(t *testing.T, secrets ...string) *receiver {
	t.Helper()
	var hooks []*standardwebhooks.Webhook
	for _, s := range secrets {
		h, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, h)
	}
	r := &receiver{Got: make(chan receipt, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rc := receipt{ID: req.Header.Get(HeaderID), OK: true, Body: string(body)}
		for _, h := range hooks {
			if err := h.Verify(body, req.Header); err != nil {
				rc.OK = false
				rc.Reason += err.Error() + "; "
			}
		}
		r.Got <- rc
		if !rc.OK {
			http.Error(w, rc.Reason, http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hooks"
	return r
}

// nodeReceiver verifies with the standardwebhooks npm package
// (testdata/receiver.mjs). Without node or the package the test is
// skipped, or fails in CI.
func nodeReceiver(t *testing.T, secrets ...string) *receiver {
	t.Helper()
	const install = "runtime/delivery/testdata/install.sh"
	node, err := exec.LookPath("node")
	if err != nil {
		testkit.SkipOrFail(t, "node is not on PATH", install)
	}
	if _, err := os.Stat(filepath.Join("testdata", "node_modules", "standardwebhooks", "package.json")); err != nil {
		testkit.SkipOrFail(t, "standardwebhooks is not installed", install)
	}
	arg, _ := json.Marshal(secrets)
	cmd := exec.Command(node, "receiver.mjs", string(arg))
	cmd.Dir = "testdata"
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		wg.Wait()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	if !lines.Scan() {
		t.Fatalf("node receiver.mjs did not start: %v", lines.Err())
	}
	port, ok := strings.CutPrefix(lines.Text(), "listening ")
	if !ok {
		t.Fatalf("node receiver.mjs said %q", lines.Text())
	}
	r := &receiver{URL: "http://127.0.0.1:" + port + "/hooks", Got: make(chan receipt, 100)}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for lines.Scan() {
			var rc receipt
			if err := json.Unmarshal(lines.Bytes(), &rc); err == nil {
				r.Got <- rc
			}
		}
	}()
	return r
}

// eachVerifier runs test against the Go and the npm verifier.
func eachVerifier(t *testing.T, test func(t *testing.T, start func(t *testing.T, secrets ...string) *receiver)) {
	t.Run("go-standardwebhooks", func(t *testing.T) { test(t, goReceiver) })
	t.Run("npm-standardwebhooks", func(t *testing.T) { test(t, nodeReceiver) })
}
