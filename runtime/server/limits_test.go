package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
)

// failSafe bounds every wait below: a test that would hang fails instead.
// What is measured is the arrival of an answer, or of the close, never a
// sleep.
const failSafe = 20 * time.Second

// rawRequest opens a connection to the server and sends text as is.
func rawRequest(t *testing.T, url, text string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, text); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(failSafe))
	return conn
}

// readResponse reads the answer on conn; it fails on a timeout, which
// means the server never answered.
func readResponse(t *testing.T, conn net.Conn) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// A request with a bad or missing token is refused before its body is
// read: the 401 arrives while the client is still sending the body (it
// never sends the rest), and the connection is closed, not kept waiting
// for the remaining bytes.
func TestUnauthenticatedSlowBodyAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	// The body timeout is far away: only the refusal can explain an answer.
	r := start(t, server.Config{Dir: workspace(t, up.srv.URL, ""), AllowPrivate: true, ReadBodyTimeout: time.Hour,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	for name, head := range map[string]string{
		"no token":        "POST /v1/connections HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
		"bad token":       "POST /v1/connections HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer not.a.jwt\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
		"chunked":         "POST /v1/connections/c/actions/a/run HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n5\r\n{\"inp\r\n",
		"admin route":     "PUT /v1/tenants/x HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " + token(t, "default", testSecret, "acme") + "\r\nContent-Length: 1000\r\n\r\n",
		"no such route":   "POST /v1/nothing HTTP/1.1\r\nHost: m\r\nContent-Length: 1000\r\n\r\n",
		"wrong workspace": "POST /v1/connections HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " + token(t, "other", testSecret, "acme") + "\r\nContent-Length: 1000\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn := rawRequest(t, r.URL, head+`{"connector":`)
			res, body := readResponse(t, conn)
			want := http.StatusUnauthorized
			switch name {
			case "admin route":
				want = http.StatusForbidden
			case "no such route":
				want = http.StatusNotFound
			}
			if res.StatusCode != want || !res.Close {
				t.Fatalf("status %d (close %v), want %d and the connection closed: %s", res.StatusCode, res.Close, want, body)
			}
		})
	}
}

// A client that sends its body too slowly is cut off with 408 once the
// body timeout passes, and the connection is closed; headers and idle
// keep-alive connections have their own timeouts.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	// One server per timeout, the others left long: on a loaded machine a
	// short header timeout could cut the body test's request before its
	// handler even starts.
	const short = 500 * time.Millisecond
	serve := func(cfg server.Config) *running {
		cfg.Dir, cfg.AllowPrivate = workspace(t, up.srv.URL, ""), true
		cfg.LookupEnv = env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})
		return start(t, cfg)
	}
	tok := token(t, "default", testSecret, "acme")

	t.Run("body", func(t *testing.T) {
		t.Parallel()
		r := serve(server.Config{ReadBodyTimeout: short})
		conn := rawRequest(t, r.URL, "POST /v1/connections HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer "+tok+
			"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"connector\":")
		res, body := readResponse(t, conn)
		var p map[string]any
		json.Unmarshal([]byte(body), &p)
		if res.StatusCode != http.StatusRequestTimeout || p["type"] != "https://membrane.dev/problems/request-timeout" || !res.Close {
			t.Fatalf("status %d (close %v): %s", res.StatusCode, res.Close, body)
		}
		if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("the connection stays open: %v", err)
		}
	})
	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		r := serve(server.Config{ReadHeaderTimeout: short})
		conn := rawRequest(t, r.URL, "GET /healthz HTTP/1.1\r\nHost: m\r\n")
		if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("a request without the end of its headers holds the connection: %v", err)
		}
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		r := serve(server.Config{IdleTimeout: short})
		conn := rawRequest(t, r.URL, "GET /healthz HTTP/1.1\r\nHost: m\r\n\r\n")
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusOK || res.Close {
			t.Fatalf("keep-alive request: %v %v", res, err)
		}
		io.Copy(io.Discard, res.Body)
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("an idle connection stays open: %v", err)
		}
	})
}

// The body timeout never cuts a run that takes longer than it once the
// body is in: the deadline is lifted at the body's end.
func TestLongRunOutlivesBodyTimeout(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	const timeout = 200 * time.Millisecond
	r := start(t, server.Config{Dir: workspace(t, up.srv.URL, ""), AllowPrivate: true, ReadBodyTimeout: timeout,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	c := r.srvClient()
	tok := token(t, "default", testSecret, "acme")
	var conn struct{ ID string }
	if code := call(t, c, "POST", r.URL+"/v1/connections", tok, map[string]any{"connector": "crm", "credentials": map[string]any{"apiKey": apiKey}}, &conn); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	arrived, release := up.holdNext()
	done := make(chan int, 1)
	go func() {
		done <- call(t, c, "POST", r.URL+"/v1/connections/"+conn.ID+"/actions/create-contact/run", tok,
			map[string]any{"input": map[string]any{"email": "ada@example.com"}}, nil)
	}()
	<-arrived
	// Time must pass here, past the body timeout: nothing else can show
	// that the deadline no longer applies.
	<-time.After(3 * timeout)
	release()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("a run longer than the body timeout: %d", code)
	}
}

// GET / says what the server is and where to go, as JSON or HTML.
func TestRoot(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	r := start(t, server.Config{Dir: workspace(t, up.srv.URL, ""), AllowPrivate: true,
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	c := r.srvClient()
	var info struct {
		Service, Version string
		Links            map[string]struct{ Href, Description string }
	}
	if code := call(t, c, "GET", r.URL+"/", "", nil, &info); code != http.StatusOK {
		t.Fatalf("GET /: %d", code)
	}
	if info.Service != "membrane" || info.Version == "" || info.Links["openapi"].Href != "/openapi.json" ||
		info.Links["console"].Href != "/console/" || info.Links["health"].Href != "/healthz" {
		t.Fatalf("GET / %+v", info)
	}
	for _, l := range info.Links {
		if code := call(t, c, "GET", r.URL+l.Href, "", nil, nil); code >= 500 || code == http.StatusNotFound {
			t.Errorf("link %s: %d", l.Href, code)
		}
	}
	req, _ := http.NewRequest("GET", r.URL+"/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(b), `href="/openapi.json"`) {
		t.Fatalf("GET / as HTML: %s %s", res.Header.Get("Content-Type"), b)
	}
	if code := call(t, c, "GET", r.URL+"/nothing", "", nil, nil); code != http.StatusNotFound {
		t.Fatalf("GET /nothing: %d", code)
	}
}

// With a generated development secret the server listens on loopback
// only, unless told otherwise, and says so at start with what to do.
func TestDevSecretListensOnLoopback(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	newServer := func(cfg server.Config) (*server.Server, string) {
		var logs testkit.Buffer
		s, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, logs.String()
	}
	dev, logs := newServer(server.Config{Dir: workspace(t, up.srv.URL, ""), LookupEnv: env(nil)})
	if dev.Addr() != server.DevAddr || !strings.Contains(logs, "127.0.0.1:8080 only") ||
		!strings.Contains(logs, "MEMBRANE_WORKSPACE_SECRET") || !strings.Contains(logs, "--addr :8080") {
		t.Fatalf("dev secret: listens on %s; log:\n%s", dev.Addr(), logs)
	}
	real, logs := newServer(server.Config{Dir: workspace(t, up.srv.URL, ""), LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret})})
	if real.Addr() != server.DefaultAddr || strings.Contains(logs, "only") {
		t.Fatalf("real secret: listens on %s; log:\n%s", real.Addr(), logs)
	}
	anyIf, logs := newServer(server.Config{Dir: workspace(t, up.srv.URL, ""), Addr: "0.0.0.0:8080", LookupEnv: env(nil)})
	if anyIf.Addr() != "0.0.0.0:8080" || !strings.Contains(logs, "DEVELOPMENT workspace secret") {
		t.Fatalf("explicit address with a dev secret: %s; log:\n%s", anyIf.Addr(), logs)
	}
	if _, logs := newServer(server.Config{Dir: workspace(t, up.srv.URL, ""), Addr: "127.0.0.1:9", LookupEnv: env(nil)}); strings.Contains(logs, "listening") {
		t.Fatalf("explicit loopback address with a dev secret warned:\n%s", logs)
	}
}
