package httpx

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRedirectSameOrigin(t *testing.T) {
	var auth, method, body atomic.Value
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/a":
			ctx.Redirect("/b?x=1", 302)
		case "/see-other":
			ctx.Redirect("/b", 303)
		case "/temporary":
			ctx.Redirect("/b", 307)
		case "/b":
			auth.Store(string(ctx.Request.Header.Peek("Authorization")))
			method.Store(string(ctx.Method()))
			body.Store(string(ctx.PostBody()))
			ctx.SetBodyString("landed")
		}
	})
	c, _ := testClient(Config{})
	hdr := http.Header{"Authorization": {"Bearer secret"}}
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr + "/a", Header: hdr})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Body) != "landed" || auth.Load() != "Bearer secret" {
		t.Fatalf("status %d body %q auth %v", resp.Status, resp.Body, auth.Load())
	}
	if resp.URL != "http://"+addr+"/b?x=1" {
		t.Errorf("final URL %q", resp.URL)
	}

	for _, tc := range []struct{ path, method, body string }{
		{"/see-other", "GET", ""},      // 303: GET without the body
		{"/temporary", "POST", "data"}, // 307: same method and body
	} {
		if _, err := c.Do(context.Background(), &Request{Method: "POST", URL: "http://" + addr + tc.path, Body: []byte("data")}); err != nil {
			t.Fatal(err)
		}
		if method.Load() != tc.method || body.Load() != tc.body {
			t.Errorf("%s: landed as %v with body %q", tc.path, method.Load(), body.Load())
		}
	}
}

func TestRedirectOtherOriginNotFollowed(t *testing.T) {
	var otherHits atomic.Int32
	var otherAuth atomic.Value
	other := serve(t, func(ctx *fasthttp.RequestCtx) {
		otherHits.Add(1)
		otherAuth.Store(string(ctx.Request.Header.Peek("Authorization")))
	})
	_, otherPort, _ := net.SplitHostPort(other)
	var target atomic.Value
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Location", target.Load().(string))
		ctx.SetStatusCode(302)
	})
	_, port, _ := net.SplitHostPort(addr)
	c, _ := testClient(Config{})
	for _, loc := range []string{
		"http://" + other + "/steal",          // other port
		"http://localhost:" + port + "/steal", // other host name
		"https://" + addr + "/steal",          // other scheme
		"//localhost:" + otherPort + "/steal", // scheme-relative
	} {
		target.Store(loc)
		resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr + "/start", Header: http.Header{"Authorization": {"Bearer secret"}}})
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		if resp.Status != 302 || resp.Header.Get("Location") != loc {
			t.Fatalf("%s: got %d %q, want the redirect as is", loc, resp.Status, resp.Header.Get("Location"))
		}
	}
	if otherHits.Load() != 0 || otherAuth.Load() != nil {
		t.Fatalf("other origin got %d requests (auth %v)", otherHits.Load(), otherAuth.Load())
	}
}

func TestTooManyRedirects(t *testing.T) {
	var n atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		n.Add(1)
		ctx.Redirect("/loop", 302)
	})
	c, _ := testClient(Config{MaxRedirects: 2})
	_, err := c.Do(context.Background(), &Request{URL: "http://" + addr + "/loop"})
	e := mustKind(t, err, KindRedirect)
	if e.Status != 302 || n.Load() != 3 || e.Retryable {
		t.Fatalf("status %d requests %d retryable %v", e.Status, n.Load(), e.Retryable)
	}
	if !strings.Contains(e.Error(), "2 redirects") {
		t.Errorf("message %q", e.Error())
	}

	// Negative: none followed.
	c, _ = testClient(Config{MaxRedirects: -1})
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr + "/loop"})
	if err != nil || resp.Status != 302 {
		t.Fatalf("%v %v", err, resp)
	}
}
