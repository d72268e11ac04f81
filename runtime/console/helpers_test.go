package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/console"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
	"github.com/membrane-dev/membrane/spec/diag"
)

const (
	apiKey  = "key_live_0123456789abcdef"
	secret  = "a-workspace-secret-of-forty-bytes-or-so!!"
	tenant  = "acme"
	wsKey   = "default" // no membrane.yaml: the server's workspace key
	contact = "c_42"
)

// fakeApp is the connected app: GET /me accepts apiKey, POST /contacts
// creates a contact and echoes what it was sent; anything else is a 401
// or a 404.
func fakeApp(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != apiKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/me":
			io.WriteString(w, `{"id":"me_1"}`)
		case r.Method == http.MethodPost && r.URL.Path == "/contacts":
			var in map[string]any
			_ = json.NewDecoder(r.Body).Decode(&in)
			json.NewEncoder(w).Encode(map[string]any{"id": contact, "email": in["email"], "vip": in["vip"]})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeSource is the development server's reloader, driven by the test.
type fakeSource struct {
	mu      sync.Mutex
	st      console.Status
	subs    map[chan console.Status]struct{}
	stopped chan struct{}
	stop    func()
}

func newFakeSource(files int) *fakeSource {
	f := &fakeSource{st: console.Status{Generation: 1, LoadedAt: time.Now(), OK: true, Files: files},
		subs: map[chan console.Status]struct{}{}, stopped: make(chan struct{})}
	f.stop = sync.OnceFunc(func() { close(f.stopped) })
	return f
}

func (f *fakeSource) Status() console.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeSource) Subscribe(ctx context.Context) <-chan console.Status {
	ch := make(chan console.Status, 1)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	// Like the reloader, it closes its subscriptions when it stops (the
	// development server shuts down), which ends the event streams.
	go func() {
		select {
		case <-ctx.Done():
		case <-f.stopped:
		}
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
		close(ch)
	}()
	return ch
}

// publish makes st the latest status and tells every subscriber; one
// that lags gets the latest only. Like the reloader, a clean load is the
// next generation and a broken one keeps the generation being served.
func (f *fakeSource) publish(st console.Status) console.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st.Generation = f.st.Generation
	if st.OK {
		st.Generation++
	}
	st.LoadedAt = time.Now()
	f.st = st
	for ch := range f.subs {
		select {
		case <-ch:
		default:
		}
		ch <- st
	}
	return st
}

func (f *fakeSource) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// isEventStream is the console's event stream, which never ends: the
// responses kept to look for leaks in are the pages.
func isEventStream(r *http.Request) bool { return r.URL.Path == "/console/events" }

type env struct {
	t      *testing.T
	dir    string // the workspace
	srv    *server.Server
	front  http.Handler // the test's console, then the server
	source *fakeSource
	minter *tenancy.Minter
	served *testkit.Served
	URL    string // where the server listens, when started
	tokens []string
}

type envOptions struct {
	open     bool
	noSource bool
	noMinter bool
	now      func() time.Time // the console's clock; nil is time.Now
}

// newEnv composes the real server on a temporary copy of testdata/workspace
// (its connector talking to a loopback fake app), with the console mounted
// as `membrane dev` (open) or `membrane serve` (admin token) would.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	app := fakeApp(t)
	dir := testkit.CopyWorkspace(t, filepath.Join("testdata", "workspace"), map[string]string{"{{API}}": app.URL})
	vars := map[string]string{"MEMBRANE_WORKSPACE_SECRET": secret}
	srv, err := server.New(t.Context(), server.Config{Dir: dir, DataDir: t.TempDir(), AllowPrivate: true,
		LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}, storetest.Quiet())
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &env{t: t, dir: dir, srv: srv, served: &testkit.Served{}}
	verifier, err := tenancy.NewVerifier(wsKey, tenancy.Keys{HMACSecret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	e.minter, err = tenancy.NewMinter(wsKey, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	co := console.Options{Service: srv.Service, Store: srv.Store, Open: o.open, Verifier: verifier,
		SessionKey: []byte(strings.Repeat("s", 32)), Logger: storetest.Quiet(), Now: o.now}
	if !o.noSource {
		e.source = newFakeSource(len(srv.Workspace().Spec.Files))
		co.Diagnostics = e.source
	}
	if !o.noMinter {
		co.Minter = e.minter
	}
	h, err := console.New(co)
	if err != nil {
		t.Fatal(err)
	}
	// The server mounts a console of its own; this one, configured by the
	// test, stands in front of it.
	front := http.NewServeMux()
	front.Handle("/console", e.served.Wrap(h, isEventStream))
	front.Handle("/console/", e.served.Wrap(h, isEventStream))
	front.Handle("/", srv.Handler())
	e.front = front
	return e
}

// listen serves on a loopback port, for the browser.
func (e *env) listen() {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	hs := &http.Server{Handler: e.front}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	e.t.Cleanup(func() { hs.Close(); <-done })
	if e.source != nil {
		e.t.Cleanup(e.source.stop) // before the server shuts down
	}
	e.URL = "http://" + ln.Addr().String()
}

// addAction writes one more action into the workspace and swaps it in,
// as the development server does when a file changes.
func (e *env) addAction(name, yaml string) {
	e.t.Helper()
	p := filepath.Join(e.dir, "connectors", "crm", "actions", name+".yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		e.t.Fatal(err)
	}
	ws, diags := layers.Load(e.dir)
	if diags.HasErrors() {
		e.t.Fatalf("the edited workspace: %v", diag.ListError(diags))
	}
	e.srv.Swap(ws)
}

// connect makes the tenant's connection through the service, as the API
// would.
func (e *env) connect() *connections.Connection {
	e.t.Helper()
	c, err := e.srv.Service.Create(e.t.Context(), tenant, connections.CreateRequest{Connector: "crm", Name: "Main CRM",
		Credentials: map[string]any{"apiKey": apiKey}})
	if err != nil {
		e.t.Fatalf("creating the connection: %v", err)
	}
	return c
}

func (e *env) token(c tenancy.Claims) string {
	e.t.Helper()
	tok, err := e.minter.Mint(c, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens = append(e.tokens, tok)
	return tok
}

// client is a browser without JavaScript: cookies, no redirects followed.
func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	*http.Response
	body string
}

// do sends a request to the server's handler in process (no listener),
// through c's cookie jar.
func (e *env) do(c *http.Client, method, target string, form url.Values, hdr ...string) response {
	e.t.Helper()
	u := "http://127.0.0.1" + target
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, u, body)
	req.RequestURI = ""
	req.RemoteAddr = "127.0.0.1:50000"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.Jar != nil {
		for _, ck := range c.Jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
	}
	rec := httptest.NewRecorder()
	e.front.ServeHTTP(rec, req)
	resp := rec.Result()
	if c.Jar != nil {
		c.Jar.SetCookies(req.URL, resp.Cookies())
	}
	return response{resp, rec.Body.String()}
}

// csrfOf reads the CSRF token of a page's form.
func csrfOf(t *testing.T, html string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(html, marker)
	if i < 0 {
		t.Fatalf("no CSRF field in:\n%s", html)
	}
	rest := html[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

// noLeaks fails when a page of the console showed the API key or a token
// (besides the redirect to the connect page, whose job is to carry one).
func (e *env) noLeaks(extra ...string) {
	e.t.Helper()
	secrets := append([]string{apiKey, secret}, e.tokens...)
	secrets = append(secrets, extra...)
	n := 0
	for _, r := range e.served.All() {
		n++
		for _, s := range secrets {
			if s != "" && strings.Contains(r.Body, s) {
				e.t.Errorf("%s %s answered a body holding a secret %.8s…", r.Method, r.URL, s)
			}
		}
		if loc := r.Header.Get("Location"); strings.Contains(loc, "token=") && !strings.HasPrefix(loc, "/connect?") {
			e.t.Errorf("%s %s: Location %q carries a token", r.Method, r.URL, loc)
		}
	}
	if n == 0 {
		e.t.Error("no page was recorded")
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
