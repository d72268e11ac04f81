package engine_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
)

const serverKey = "sk_live_server_0123456789"

// TestServerTakesTheRequest: a request that names a server goes to that
// server's URL with the connection's credentials, as one to the base URL
// does; a next-page link or an absolute path must stay on the origin of
// the server the request names.
func TestServerTakesTheRequest(t *testing.T) {
	main := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, map[string]any{"where": "main"})
	})
	var upload *api
	upload = newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/api/2.0/pages":
			if r.URL.Query().Get("after") == "" {
				writeJSON(w, 200, map[string]any{"items": []any{1}, "next": upload.URL + "/api/2.0/pages?after=2"})
				return
			}
			writeJSON(w, 200, map[string]any{"items": []any{2}})
		case "/api/2.0/away":
			writeJSON(w, 200, map[string]any{"items": []any{1}, "next": main.URL + "/2.0/pages?after=2"})
		default:
			writeJSON(w, 201, map[string]any{"where": "upload", "path": r.URL.Path})
		}
	})
	pages := "pagination: {type: link, nextCursor: '${ response.body.?next.orValue(null) }', items: '${ response.body.items }'}\noutput: {items: '${ records }'}\n"
	e := load(t, main.URL+"/2.0", map[string]string{
		"connector.yaml": connector("servers:\n  upload: " + upload.URL + "/api/2.0\nauth: {type: apiKey, in: header, name: X-Api-Key}\n"),
		"up.yaml":        "kind: Action\nconnector: test\nkey: up\nrequest: {method: POST, server: upload, path: /files/content, body: {name: a}}\n",
		"get.yaml":       "kind: Action\nconnector: test\nkey: get\nrequest: {path: /things}\n",
		"pages.yaml":     "kind: Action\nconnector: test\nkey: pages\nrequest: {server: upload, path: /pages}\n" + pages,
		"away.yaml":      "kind: Action\nconnector: test\nkey: away\nrequest: {server: upload, path: /away}\n" + pages,
		"absolute.yaml":  "kind: Action\nconnector: test\nkey: absolute\nrequest: {server: upload, path: '${ input.url }'}\n",
	})
	conn := engine.Connection{Credentials: map[string]any{"apiKey": serverKey}}
	if out := asJSON(t, e.mustRun(t, membrane.RunRequest{Action: "up", Connection: conn})); out != `{"path":"/api/2.0/files/content","where":"upload"}` {
		t.Errorf("up: %s", out)
	}
	if out := asJSON(t, e.mustRun(t, membrane.RunRequest{Action: "get", Connection: conn})); out != `{"where":"main"}` {
		t.Errorf("get: %s", out)
	}
	reqs := upload.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Header.Get("X-Api-Key") != serverKey {
		t.Fatalf("the upload server got %+v", reqs)
	}
	if out := asJSON(t, e.mustRun(t, membrane.RunRequest{Action: "pages", Connection: conn})); out != `{"items":[1,2]}` {
		t.Errorf("pages on the server: %s", out)
	}
	got := e.runErr(t, membrane.RunRequest{Action: "away", Connection: conn}, engine.ErrHostNotAllowed)
	if !strings.Contains(got.Message, `the next-page link`) || !strings.Contains(got.Message, `server "upload"`) {
		t.Errorf("a next-page link off the server's origin: %v", got)
	}
	if out := asJSON(t, e.mustRun(t, membrane.RunRequest{Action: "absolute", Connection: conn, Input: map[string]any{"url": upload.URL + "/api/2.0/x"}})); !strings.Contains(out, `"where":"upload"`) {
		t.Errorf("an absolute URL on the server: %s", out)
	}
	got = e.runErr(t, membrane.RunRequest{Action: "absolute", Connection: conn, Input: map[string]any{"url": main.URL + "/2.0/x"}}, engine.ErrHostNotAllowed)
	if !strings.Contains(got.Message, `server "upload"`) {
		t.Errorf("an absolute URL off the server's origin: %v", got)
	}
	if n := main.n(); n != 1 {
		t.Errorf("the base URL's server got %d requests, want the one of get", n)
	}
}

// TestServerKeepsToTheHostPolicy: a server whose host takes a connection
// parameter is held to the connector's hosts: as the base URL is; a
// value naming another host is refused and nothing is sent.
func TestServerKeepsToTheHostPolicy(t *testing.T) {
	target := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{}) })
	port := strings.TrimPrefix(target.URL, "http://127.0.0.1:")
	e := load(t, target.URL, map[string]string{
		"connector.yaml": connector("servers:\n  upload: http://${ connection.parameters.region }.upload.test:" + port + "/v1\n" +
			"parameters: {type: object, properties: {region: {type: string}}}\nauth: {type: apiKey, in: header, name: X-Api-Key}\n"),
		"up.yaml": "kind: Action\nconnector: test\nkey: up\nrequest: {method: POST, server: upload, path: /files}\n",
	})
	for _, v := range []string{"127.0.0.1:" + port + "/", "evil.com/", "a.b"} {
		res, err := e.run(t, membrane.RunRequest{Action: "up", Connection: engine.Connection{
			Parameters: map[string]any{"region": v}, Credentials: map[string]any{"apiKey": serverKey}}})
		ee := mustType(t, err, engine.ErrHostNotAllowed)
		if !strings.Contains(ee.Message, `servers.upload`) || !strings.Contains(ee.Message, `"region" parameter`) {
			t.Errorf("%q: the error does not name the server and the parameter: %v", v, ee.Message)
		}
		if s := everything(t, res, err); strings.Contains(s, serverKey) {
			t.Errorf("%q: the key is in the run's log or error: %s", v, s)
		}
	}
	if n := target.n(); n != 0 {
		t.Errorf("the listener the values named received %d requests", n)
	}
}

// cdn is an https server on loopback, and a client that trusts it and
// may dial loopback.
func cdn(t *testing.T, h http.HandlerFunc) (*httptest.Server, *httpx.Client, *[]*http.Request) {
	t.Helper()
	var mu sync.Mutex
	var got []*http.Request
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(strings.NewReader(string(body)))
		r2.ContentLength = int64(len(body))
		mu.Lock()
		got = append(got, r2)
		mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	client := httpx.New(httpx.Config{AllowPrivate: true, TLSConfig: &tls.Config{RootCAs: roots}, Sleep: (&sleeps{}).sleep})
	return srv, client, &got
}

// TestRedirectFollowedToADeclaredHostWithoutCredentials: a redirect to a
// host of redirectHosts (a download on a CDN) is followed with a new GET
// that carries no credential, no header of the connector or the request
// and no body; its answer is the action's response, and both exchanges
// are in the run log without the key. Other hosts, and plain http, keep
// failing, and the error says how to allow the host.
func TestRedirectFollowedToADeclaredHostWithoutCredentials(t *testing.T) {
	content := []byte("%PDF-1.7 binary \x00\x01")
	// mirror is a second https host, with the same test certificate: a
	// redirect from one to the other and back never ends.
	var mirror *httptest.Server
	srv, client, got := cdn(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, mirror.URL+"/loop", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(content)
	})
	cdnHost := strings.TrimPrefix(srv.URL, "https://")
	mirror = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/loop", http.StatusFound)
	}))
	t.Cleanup(mirror.Close)
	other := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, map[string]any{}) })
	otherHost := strings.TrimPrefix(other.URL, "http://")
	api := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/files/1/content":
			w.Header().Set("Location", srv.URL+"/d/1/signed/download?sig=abc")
			w.WriteHeader(http.StatusFound)
		case "/export":
			w.Header().Set("Location", srv.URL+"/d/export")
			w.WriteHeader(http.StatusSeeOther)
		case "/loop":
			w.Header().Set("Location", srv.URL+"/loop")
			w.WriteHeader(http.StatusFound)
		case "/elsewhere":
			w.Header().Set("Location", other.URL+"/x")
			w.WriteHeader(http.StatusFound)
		case "/plain":
			w.Header().Set("Location", "http://"+cdnHost+"/x")
			w.WriteHeader(http.StatusFound)
		}
	})
	dl := "request: {path: /files/1/content, responseFormat: base64}\noutput: {content: '${ response.body }', type: \"${ response.headers['content-type'] }\"}\n"
	e := loadWith(t, api.URL, map[string]string{
		"connector.yaml": connector(fmt.Sprintf("redirectHosts: [%q, %q]\n", cdnHost, strings.TrimPrefix(mirror.URL, "https://")) +
			"auth: {type: apiKey, in: header, name: X-Api-Key}\nheaders: {X-Team: '${ credentials.apiKey }-team', X-Plain: plain}\n"),
		"download.yaml":  "kind: Action\nconnector: test\nkey: download\n" + dl,
		"export.yaml":    "kind: Action\nconnector: test\nkey: export\nrequest: {method: POST, path: /export, headers: {X-Own: own}, body: {secret: '${ credentials.apiKey }'}, responseFormat: base64}\n",
		"loop.yaml":      "kind: Action\nconnector: test\nkey: loop\nrequest: {path: /loop}\n",
		"elsewhere.yaml": "kind: Action\nconnector: test\nkey: elsewhere\nrequest: {path: /elsewhere}\n",
		"plain.yaml":     "kind: Action\nconnector: test\nkey: plain\nrequest: {path: /plain}\n",
	}, client, &sleeps{})
	conn := engine.Connection{Credentials: map[string]any{"apiKey": serverKey}}

	res, err := e.run(t, membrane.RunRequest{Action: "download", Connection: conn, Options: engine.RunOptions{Log: true}})
	if err != nil {
		t.Fatal(err)
	}
	if out := asJSON(t, res.Output); out != fmt.Sprintf(`{"content":%q,"type":"application/pdf"}`, base64.StdEncoding.EncodeToString(content)) {
		t.Errorf("download: %s", out)
	}
	if len(*got) != 1 {
		t.Fatalf("the CDN got %d requests", len(*got))
	}
	hop := (*got)[0]
	if hop.Method != "GET" || hop.URL.Path != "/d/1/signed/download" || hop.URL.Query().Get("sig") != "abc" {
		t.Errorf("the followed request: %s %s", hop.Method, hop.URL)
	}
	for name := range hop.Header {
		switch name {
		case "Accept", "Accept-Encoding", "User-Agent", "Content-Length":
		default:
			t.Errorf("the followed request carries %s: %q", name, hop.Header.Get(name))
		}
	}
	if a := hop.Header.Get("Accept"); a != "*/*" {
		t.Errorf("Accept = %q", a)
	}
	// The signed link is a credential of its own: the log names the
	// CDN's host, never the link's path or query.
	if len(res.Log) != 2 || res.Log[0].Status != 302 || res.Log[1].Status != 200 || !strings.HasPrefix(res.Log[1].URL, srv.URL) {
		t.Errorf("the log: %+v", res.Log)
	}
	if s := everything(t, res, err); strings.Contains(s, serverKey) || strings.Contains(s, "signed/download") || strings.Contains(s, "sig=abc") {
		t.Errorf("the key or the signed link is in the run: %s", s)
	}

	// A POST answered 303 continues as a GET without its body or headers.
	e.mustRun(t, membrane.RunRequest{Action: "export", Connection: conn})
	if len(*got) != 2 {
		t.Fatalf("the CDN got %d requests", len(*got))
	}
	hop = (*got)[1]
	if b, _ := io.ReadAll(hop.Body); hop.Method != "GET" || len(b) != 0 || hop.Header.Get("X-Own") != "" || hop.Header.Get("Content-Type") != "" {
		t.Errorf("the request after 303: %s, body %q, headers %v", hop.Method, b, hop.Header)
	}

	// Redirects between hosts end after a few hops.
	got1 := e.runErr(t, membrane.RunRequest{Action: "loop", Connection: conn}, engine.ErrUpstream)
	if !strings.Contains(got1.Message, "redirected more than 5 times") {
		t.Errorf("loop: %v", got1)
	}

	// Another host: refused, and the error says how to allow it.
	got1 = e.runErr(t, membrane.RunRequest{Action: "elsewhere", Connection: conn}, engine.ErrUpstream)
	if got1.Status != 302 || !strings.Contains(got1.Message, "host "+otherHost) || !strings.Contains(got1.Message, "redirectHosts:") {
		t.Errorf("elsewhere: %v", got1)
	}
	if other.n() != 0 {
		t.Errorf("the unlisted host got %d requests", other.n())
	}
	// A listed host over http: refused.
	got1 = e.runErr(t, membrane.RunRequest{Action: "plain", Connection: conn}, engine.ErrUpstream)
	if !strings.Contains(got1.Message, "not https") {
		t.Errorf("plain: %v", got1)
	}
	if n := len(*got); n != 2+3 {
		t.Errorf("the CDN got %d requests, want 2 and the 3 of the loop", n)
	}
}
