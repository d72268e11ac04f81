package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// closeCounter is a request body that counts its Close calls: a
// RoundTripper must close the body, even when it fails.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error {
	c.closed.Add(1)
	return nil
}

func newBody(s string) *closeCounter { return &closeCounter{Reader: strings.NewReader(s)} }

func TestTransportRoundTrip(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Method", string(ctx.Method()))
		ctx.Response.Header.Set("X-Auth", string(ctx.Request.Header.Peek("Authorization")))
		ctx.Response.Header.Set("X-Type", string(ctx.Request.Header.ContentType()))
		ctx.Response.Header.Set("X-Uri", string(ctx.RequestURI()))
		ctx.SetContentType("application/json")
		ctx.SetStatusCode(201)
		ctx.SetBody(append([]byte("echo:"), ctx.PostBody()...))
	})
	c, _ := testClient(Config{})
	body := newBody("grant_type=client_credentials")
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/token?x=1", body)
	req.SetBasicAuth("id", "secret")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTPClient(RetryPolicy{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || resp.Status != "201 Created" || string(got) != "echo:grant_type=client_credentials" || resp.ContentLength != int64(len(got)) {
		t.Fatalf("got %s %q (length %d)", resp.Status, got, resp.ContentLength)
	}
	if resp.Request != req || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %p, want %p; content type %q", resp.Request, req, resp.Header.Get("Content-Type"))
	}
	for k, want := range map[string]string{
		"X-Method": "POST", "X-Auth": "Basic aWQ6c2VjcmV0",
		"X-Type": "application/x-www-form-urlencoded", "X-Uri": "/token?x=1",
	} {
		if v := resp.Header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if n := body.closed.Load(); n != 1 {
		t.Errorf("the request body was closed %d times, want 1", n)
	}
}

// Same-origin redirects are followed by the Client; one to another origin
// comes back as the response, and net/http does not follow it either.
func TestTransportRedirects(t *testing.T) {
	var otherHits atomic.Int32
	other := serve(t, func(ctx *fasthttp.RequestCtx) { otherHits.Add(1) })
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/same":
			ctx.Redirect("/final", 302)
		case "/final":
			ctx.SetBodyString("final")
		default:
			ctx.Response.Header.Set("Location", "http://"+other+"/steal")
			ctx.SetStatusCode(307)
		}
	})
	c, _ := testClient(Config{})
	hc := c.HTTPClient(RetryPolicy{})

	resp, err := hc.Get("http://" + addr + "/same")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "final" {
		t.Fatalf("same origin: %d %q", resp.StatusCode, b)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/token", strings.NewReader("secret=1"))
	req.Header.Set("Authorization", "Basic c2VjcmV0")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "http://"+other+"/steal" {
		t.Fatalf("other origin: %d %q, want the redirect as is", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := otherHits.Load(); n != 0 {
		t.Fatalf("the other origin got %d requests", n)
	}
}

// The address guard applies: a loopback server is refused before any
// connection by a Client that does not allow private addresses.
func TestTransportAddressGuard(t *testing.T) {
	var hits atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { hits.Add(1) })
	c := New(Config{})
	dials := countDials(c)
	_, err := c.HTTPClient(RetryPolicy{}).Post("http://"+addr+"/token", "application/x-www-form-urlencoded", strings.NewReader("a=b"))
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v (%T), want net/http's *url.Error", err, err)
	}
	mustKind(t, err, KindRefused)
	if hits.Load() != 0 || dials.Load() != 0 {
		t.Fatalf("hits %d, dials %d: nothing may leave", hits.Load(), dials.Load())
	}
}

func TestTransportSizeCap(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(make([]byte, 4096)) })
	c, _ := testClient(Config{MaxResponseBytes: 1024})
	_, err := c.HTTPClient(RetryPolicy{}).Get("http://" + addr)
	mustKind(t, err, KindTooLarge)
}

// A POST that got a 503 is not resent by default (the server may have
// acted on it); with NonIdempotent it is.
func TestTransportRetryPolicy(t *testing.T) {
	var hits atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		ctx.SetStatusCode(503)
	})
	c, _ := testClient(Config{})
	post := func(p RetryPolicy) int {
		resp, err := c.HTTPClient(p).Post("http://"+addr, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(RetryPolicy{}); st != 503 || hits.Load() != 1 {
		t.Fatalf("default: status %d after %d requests, want 503 after 1", st, hits.Load())
	}
	hits.Store(0)
	if st := post(RetryPolicy{NonIdempotent: true, MaxAttempts: 3}); st != 503 || hits.Load() != 3 {
		t.Fatalf("NonIdempotent: status %d after %d requests, want 503 after 3", st, hits.Load())
	}
}

// The request's context cancels it, as with net/http's transport.
func TestTransportCanceled(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(release) })
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		close(arrived)
		<-release
	})
	c, _ := testClient(Config{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr, nil)
	_, err := c.HTTPClient(RetryPolicy{}).Do(req)
	mustKind(t, err, KindCanceled)
}

func TestTransportRefusesWhatItCannotSend(t *testing.T) {
	var hits atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { hits.Add(1) })
	c, _ := testClient(Config{})

	body := newBody("x")
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr, body)
	req.Host = "other.example"
	_, err := (&Transport{Client: c}).RoundTrip(req)
	mustKind(t, err, KindInvalid)
	if body.closed.Load() != 1 {
		t.Error("the body of a refused request was not closed")
	}

	body = newBody(strings.Repeat("x", 11))
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr, body)
	_, err = (&Transport{Client: c, MaxRequestBytes: 10}).RoundTrip(req)
	if e := mustKind(t, err, KindInvalid); !strings.Contains(e.Message, "over 10 bytes") {
		t.Errorf("message %q", e.Message)
	}
	if body.closed.Load() != 1 {
		t.Error("the body of a refused request was not closed")
	}

	req, _ = http.NewRequest(http.MethodGet, "http://"+addr, nil)
	if _, err := (&Transport{}).RoundTrip(req); err == nil {
		t.Error("a Transport without a Client sent a request")
	}
	if hits.Load() != 0 {
		t.Fatalf("the server got %d requests", hits.Load())
	}
}
