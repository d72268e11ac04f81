package httpx

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestSuccess(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Method", string(ctx.Method()))
		ctx.Response.Header.Set("X-Auth", string(ctx.Request.Header.Peek("Authorization")))
		ctx.Response.Header.Set("X-UA", string(ctx.UserAgent()))
		ctx.Response.Header.Set("X-Path", string(ctx.RequestURI()))
		ctx.SetContentType("application/json")
		ctx.SetBody(append([]byte("echo:"), ctx.PostBody()...))
	})
	c, _ := testClient(Config{})
	resp, err := c.Do(context.Background(), &Request{
		Method: "PUT",
		URL:    "http://" + addr + "/items/a%2Fb?q=1",
		Header: http.Header{"Authorization": {"Bearer t0k"}},
		Body:   []byte(`{"x":1}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Body) != `echo:{"x":1}` || resp.Attempts != 1 {
		t.Fatalf("got %d %q attempts %d", resp.Status, resp.Body, resp.Attempts)
	}
	for k, want := range map[string]string{
		"X-Method": "PUT", "X-Auth": "Bearer t0k", "X-Ua": "membrane",
		"Content-Type": "application/json",
		// The encoded slash stays encoded.
		"X-Path": "/items/a%2Fb?q=1",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

func TestEmptyBody(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/204" {
			ctx.SetStatusCode(204)
		}
	})
	c, _ := testClient(Config{})
	for _, p := range []string{"/204", "/200"} {
		resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr + p})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Body) != 0 {
			t.Errorf("%s: body %q", p, resp.Body)
		}
	}
	// HEAD has no body whatever Content-Length says.
	resp, err := c.Do(context.Background(), &Request{Method: "HEAD", URL: "http://" + addr + "/200"})
	if err != nil || len(resp.Body) != 0 {
		t.Fatalf("HEAD: %v %q", err, resp.Body)
	}
}

// statuses answers the i-th request with codes[i] (the last one repeats) and
// counts the requests.
func statuses(t *testing.T, header map[string]string, codes ...int) (string, *atomic.Int32) {
	var n atomic.Int32
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		i := int(n.Add(1)) - 1
		code := codes[min(i, len(codes)-1)]
		ctx.SetStatusCode(code)
		if code != 200 {
			for k, v := range header {
				ctx.Response.Header.Set(k, v)
			}
		}
		fmt.Fprintf(ctx, "answer %d", i+1)
	})
	return addr, &n
}

func TestRetry503Then200(t *testing.T) {
	addr, n := statuses(t, nil, 503, 200)
	c, sl := testClient(Config{})
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Attempts != 2 || n.Load() != 2 || string(resp.Body) != "answer 2" {
		t.Fatalf("status %d attempts %d requests %d", resp.Status, resp.Attempts, n.Load())
	}
	if d := sl.got(); len(d) != 1 || d[0] < 0 || d[0] > fastRetry.InitialBackoff {
		t.Fatalf("backoff %v, want one in [0, %v]", d, fastRetry.InitialBackoff)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{
		{"0", 0},
		{"1", time.Second},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		t.Run(tc.value, func(t *testing.T) {
			addr, n := statuses(t, map[string]string{"Retry-After": tc.value}, 429, 200)
			c, sl := testClient(Config{Now: func() time.Time { return now }})
			resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 200 || n.Load() != 2 {
				t.Fatalf("status %d after %d requests", resp.Status, n.Load())
			}
			if d := sl.got(); len(d) != 1 || d[0] != tc.want {
				t.Fatalf("waits %v, want [%v]", d, tc.want)
			}
		})
	}
}

func TestRetryAfterTooLongReturnsResponse(t *testing.T) {
	addr, n := statuses(t, map[string]string{"Retry-After": "3600"}, 429)
	c, sl := testClient(Config{})
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 429 || resp.Attempts != 1 || n.Load() != 1 || len(sl.got()) != 0 {
		t.Fatalf("status %d attempts %d waits %v", resp.Status, resp.Attempts, sl.got())
	}
	if resp.Header.Get("Retry-After") != "3600" {
		t.Fatal("Retry-After not passed on")
	}
}

func TestNonIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		policy   RetryPolicy
		header   http.Header
		attempts int
	}{
		{"POST 503 not retried", 503, fastRetry, nil, 1},
		{"POST 503 allowed", 503, RetryPolicy{NonIdempotent: true}, nil, 2},
		{"POST with idempotency key", 503, fastRetry, http.Header{"Idempotency-Key": {"k1"}}, 2},
		{"POST 429 retried: not processed", 429, fastRetry, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, n := statuses(t, nil, tc.status, 200)
			c, _ := testClient(Config{})
			resp, err := c.Do(context.Background(), &Request{Method: "POST", URL: "http://" + addr, Body: []byte("x"), Header: tc.header, Retry: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Attempts != tc.attempts || int(n.Load()) != tc.attempts {
				t.Fatalf("attempts %d, requests %d, want %d", resp.Attempts, n.Load(), tc.attempts)
			}
		})
	}
}

func TestMaxAttemptsAndBackoff(t *testing.T) {
	addr, n := statuses(t, nil, 500)
	c, sl := testClient(Config{})
	c.rnd = func(n int64) int64 { return n - 1 } // the top of each jitter range
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr, Retry: RetryPolicy{
		MaxAttempts: 5, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 30 * time.Millisecond,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 500 || resp.Attempts != 5 || n.Load() != 5 {
		t.Fatalf("status %d attempts %d requests %d", resp.Status, resp.Attempts, n.Load())
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond}
	if got := sl.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoffs %v, want %v", got, want)
	}
}

func TestCustomStatuses(t *testing.T) {
	addr, n := statuses(t, nil, 409, 200)
	c, _ := testClient(Config{})
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr, Retry: RetryPolicy{Statuses: []int{409}}})
	if err != nil || resp.Status != 200 || n.Load() != 2 {
		t.Fatalf("%v %v %d", err, resp, n.Load())
	}
	addr, n = statuses(t, nil, 503, 200)
	resp, err = c.Do(context.Background(), &Request{URL: "http://" + addr, Retry: RetryPolicy{Statuses: []int{409}}})
	if err != nil || resp.Status != 503 || n.Load() != 1 {
		t.Fatalf("503 outside the set was retried: %v %v %d", err, resp, n.Load())
	}
}

func TestNetworkErrorAfterRetries(t *testing.T) {
	var accepted atomic.Int32
	// Reads the request, then closes without a byte of response.
	addr := rawServe(t, func(c net.Conn) {
		accepted.Add(1)
		_, _ = bufio.NewReader(c).ReadString('\n')
		c.Close()
	})
	c, sl := testClient(Config{})
	_, err := c.Do(context.Background(), &Request{URL: "http://" + addr, Retry: fastRetry})
	e := mustKind(t, err, KindNetwork)
	if e.Attempts != 3 || !e.Retryable || accepted.Load() != 3 || len(sl.got()) != 2 {
		t.Fatalf("attempts %d retryable %v accepted %d waits %v", e.Attempts, e.Retryable, accepted.Load(), sl.got())
	}
	if !strings.Contains(e.Error(), "GET http://"+addr) {
		t.Errorf("message %q lacks method and origin", e.Error())
	}

	// The request may have been processed: a POST is not sent twice.
	accepted.Store(0)
	_, err = c.Do(context.Background(), &Request{Method: "POST", URL: "http://" + addr, Retry: fastRetry})
	if e := mustKind(t, err, KindNetwork); e.Attempts != 1 || accepted.Load() != 1 {
		t.Fatalf("POST attempts %d accepted %d", e.Attempts, accepted.Load())
	}
}

func TestConnectRefusedRetriesAnyMethod(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connect fails, nothing was sent
	c, _ := testClient(Config{})
	_, err = c.Do(context.Background(), &Request{Method: "POST", URL: "http://" + addr, Retry: fastRetry})
	if e := mustKind(t, err, KindNetwork); e.Attempts != 3 {
		t.Fatalf("attempts %d, want 3: %v", e.Attempts, err)
	}
}

func TestTrickleTimesOut(t *testing.T) {
	// Sends headers, then one byte of a long body every 10ms (1000 s in
	// all); hungUp hears each connection the client gives up mid-body.
	hungUp := make(chan struct{}, 8)
	addr := rawServe(t, func(c net.Conn) {
		defer c.Close()
		_, _ = bufio.NewReader(c).ReadString('\n')
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if _, err := c.Write([]byte("x")); err != nil {
				hungUp <- struct{}{}
				return
			}
		}
	})
	c, _ := testClient(Config{ReadTimeout: 150 * time.Millisecond})
	_, err := c.Do(context.Background(), &Request{URL: "http://" + addr, Retry: RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}})
	e := mustKind(t, err, KindTimeout)
	if e.Attempts != 2 || !e.Retryable {
		t.Fatalf("attempts %d retryable %v", e.Attempts, e.Retryable)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a read timeout reported as a context deadline: %v", err)
	}
	// The read timeout bounds the whole response, not each read (a byte
	// every 10ms would never trip that): the server sees both attempts'
	// connections closed long before the body's end.
	for range 2 {
		<-hungUp
	}
	// A read timeout after a POST was sent is not retried.
	_, err = c.Do(context.Background(), &Request{Method: "POST", URL: "http://" + addr, Retry: RetryPolicy{MaxAttempts: 2}})
	if e := mustKind(t, err, KindTimeout); e.Attempts != 1 {
		t.Fatalf("POST attempts %d", e.Attempts)
	}
	<-hungUp
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestTooLarge(t *testing.T) {
	const size = 50 << 20
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		n := size
		if string(ctx.Path()) == "/chunked" {
			n = -1 // no Content-Length: the limit trips while reading
		}
		ctx.SetBodyStream(io.LimitReader(zeros{}, size), n)
	})
	c, _ := testClient(Config{MaxResponseBytes: 1 << 20})
	for _, p := range []string{"/length", "/chunked"} {
		t.Run(p, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := c.Do(context.Background(), &Request{URL: "http://" + addr + p})
			runtime.ReadMemStats(&after)
			e := mustKind(t, err, KindTooLarge)
			if e.Attempts != 1 || e.Retryable || e.Status != 200 || !errors.Is(err, fasthttp.ErrBodyTooLarge) {
				t.Fatalf("attempts %d retryable %v: %v", e.Attempts, e.Retryable, err)
			}
			// Server and client share this process; both stay far below
			// the 50 MB body.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Fatalf("allocated %d MB for a 1 MB limit", grew>>20)
			}
		})
	}
}

func TestGzipDecoded(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, strings.Repeat("hello ", 100)) //nolint:errcheck
	zw.Close()
	bomb := bytes.Buffer{}
	zw = gzip.NewWriter(&bomb)
	zw.Write(make([]byte, 4<<20)) //nolint:errcheck
	zw.Close()
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Content-Encoding", "gzip")
		if string(ctx.Path()) == "/bomb" {
			ctx.SetBody(bomb.Bytes())
			return
		}
		ctx.SetBody(buf.Bytes())
	})
	c, _ := testClient(Config{MaxResponseBytes: 1 << 20})
	resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr, Header: http.Header{"Accept-Encoding": {"gzip"}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != strings.Repeat("hello ", 100) || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("body %q, encoding %q", resp.Body, resp.Header.Get("Content-Encoding"))
	}
	// 4 MB from a few KB: the limit applies to the decoded size.
	_, err = c.Do(context.Background(), &Request{URL: "http://" + addr + "/bomb"})
	mustKind(t, err, KindTooLarge)
}

func TestCtxDeadlineBeatsReadTimeout(t *testing.T) {
	release := make(chan struct{})
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { <-release })
	t.Cleanup(func() { close(release) }) // runs before the server's shutdown
	// The read timeout is an hour: only the context's deadline can end
	// the call before the test binary's own -timeout does.
	c, _ := testClient(Config{ReadTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, &Request{URL: "http://" + addr})
	e := mustKind(t, err, KindTimeout)
	if !errors.Is(err, context.DeadlineExceeded) || e.Retryable || e.Attempts != 1 {
		t.Fatalf("not a deadline error after one attempt: %v", err)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	addr, n := statuses(t, nil, 503)
	retrying := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := New(Config{AllowPrivate: true, Trace: func(a *Attempt) {
		if a.Retry {
			retrying <- struct{}{}
		}
	}})
	go func() {
		<-retrying
		cancel()
	}()
	// A real timer, an hour long: only the cancellation can end it before
	// the test binary's own -timeout does.
	_, err := c.Do(ctx, &Request{URL: "http://" + addr, Retry: RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}})
	if e := mustKind(t, err, KindCanceled); e.Attempts != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("the server saw %d requests, want 1: the canceled retry was sent", got)
	}
}

func TestNoRetryPastDeadline(t *testing.T) {
	addr, n := statuses(t, map[string]string{"Retry-After": "30"}, 503, 200)
	c, sl := testClient(Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Do(ctx, &Request{URL: "http://" + addr})
	if err != nil || resp.Status != 503 || n.Load() != 1 || len(sl.got()) != 0 {
		t.Fatalf("waited past the deadline: %v %v %v", err, resp, sl.got())
	}
}

func TestTrace(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/start":
			ctx.Redirect("/flaky", 302)
		case "/flaky":
			ctx.SetStatusCode(503)
		}
	})
	var got []string
	c, _ := testClient(Config{Trace: func(a *Attempt) {
		got = append(got, fmt.Sprintf("%d.%d %s %s %d retry=%v auth=%s",
			a.Attempt, a.Hop, a.Method, a.URL[strings.LastIndexByte(a.URL, '/'):], a.Response.Status, a.Retry, a.RequestHeader.Get("Authorization")))
	}})
	_, err := c.Do(context.Background(), &Request{URL: "http://" + addr + "/start", Header: http.Header{"Authorization": {"s"}}, Retry: RetryPolicy{MaxAttempts: 2}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1.0 GET /start 302 retry=false auth=s",
		"1.1 GET /flaky 503 retry=true auth=s",
		"2.0 GET /start 302 retry=false auth=s",
		"2.1 GET /flaky 503 retry=false auth=s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("trace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestInvalidRequests(t *testing.T) {
	c, _ := testClient(Config{})
	for _, r := range []*Request{
		{URL: "ftp://example.com/x"},
		{URL: "/relative"},
		{URL: "http://example.com", Header: http.Header{"Bad\r\nName": {"x"}}},
	} {
		_, err := c.Do(context.Background(), r)
		mustKind(t, err, KindInvalid)
	}
}

func TestConcurrent(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.QueryArgs().Peek("i")) })
	c, _ := testClient(Config{})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for j := range 10 {
				want := fmt.Sprint(i*100 + j)
				resp, err := c.Do(context.Background(), &Request{URL: "http://" + addr + "/?i=" + want, Settings: Settings{ReadTimeout: time.Duration(1+i%3) * time.Second}})
				if err != nil || string(resp.Body) != want {
					t.Errorf("%s: %v %v", want, err, resp)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkDo(b *testing.B) {
	body := []byte(`{"id":"123","name":"Ada"}`)
	addr := serve(b, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	})
	c := New(Config{AllowPrivate: true})
	r := &Request{
		Method:      "POST",
		URL:         "http://" + addr + "/crm/v3/objects/contacts",
		Header:      http.Header{"Authorization": {"Bearer x"}, "Content-Type": {"application/json"}},
		Body:        []byte(`{"properties":{"email":"a@b.c"}}`),
		AllowedHost: addr,
		RateKey:     "conn-1",
		Rate:        Rate{PerSecond: 1e9, Burst: 1 << 30},
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Do(ctx, r)
		if err != nil || resp.Status != 200 {
			b.Fatal(err)
		}
	}
}
