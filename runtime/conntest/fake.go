package conntest

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// upstream is the in-process fake every case's requests go to: one
// fasthttp server on an in-memory listener. Requests are parsed as real
// HTTP, and nothing reaches a socket. Each case dials it with its own local
// address, by which the handler finds the case's canned responses.
type upstream struct {
	ln    *fasthttputil.InmemoryListener
	srv   *fasthttp.Server
	done  chan struct{}
	next  atomic.Uint64
	cases sync.Map // address → *exchanges
}

func newUpstream() *upstream {
	u := &upstream{ln: fasthttputil.NewInmemoryListener(), done: make(chan struct{})}
	u.srv = &fasthttp.Server{
		Handler:                      u.handle,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                true,
		MaxRequestBodySize:           64 << 20,
	}
	go func() {
		defer close(u.done)
		_ = u.srv.Serve(u.ln)
	}()
	return u
}

func (u *upstream) Close() {
	_ = u.ln.Close()
	<-u.done
}

// caseAddr names a case's connections.
type caseAddr string

func (a caseAddr) Network() string { return "memory" }
func (a caseAddr) String() string  { return string(a) }

// register makes the dialer of one case, and what forgets the case.
func (u *upstream) register(x *exchanges) (dial func(addr string) (net.Conn, error), release func()) {
	local := caseAddr("case-" + strconv.FormatUint(u.next.Add(1), 10))
	u.cases.Store(string(local), x)
	dial = func(string) (net.Conn, error) {
		c, err := u.ln.DialWithLocalAddr(local)
		if err != nil {
			return nil, err
		}
		return plainConn{c}, nil
	}
	return dial, func() { u.cases.Delete(string(local)) }
}

// plainConn has the Handshake method fasthttp takes for a TLS connection
// already set up, so an https URL is served in plain HTTP over the pipe:
// the fake has no certificate, and TLS says nothing of what a connector
// sends.
type plainConn struct{ net.Conn }

func (plainConn) Handshake() error { return nil }

func (u *upstream) handle(ctx *fasthttp.RequestCtx) {
	v, ok := u.cases.Load(ctx.RemoteAddr().String())
	if !ok {
		ctx.Error("membrane test: a request of no case", fasthttp.StatusNotImplemented)
		return
	}
	x := v.(*exchanges)
	req := sentRequest{
		Method: string(ctx.Method()),
		Path:   string(ctx.URI().PathOriginal()),
		Query:  string(ctx.URI().QueryString()),
		Header: http.Header{},
		Body:   append([]byte(nil), ctx.Request.Body()...),
	}
	for k, val := range ctx.Request.Header.All() {
		name := http.CanonicalHeaderKey(string(k))
		req.Header[name] = append(req.Header[name], string(val))
	}
	resp, took := x.answer(req)
	if resp == nil {
		// Not retried (501 is not a retryable status) and reported by the
		// comparison; the body says why to anyone reading a log.
		ctx.SetStatusCode(fasthttp.StatusNotImplemented)
		ctx.SetContentType("text/plain; charset=utf-8")
		if took < 0 {
			fmt.Fprintf(ctx, "membrane test: %s matches no canned request", req.Line())
		} else {
			fmt.Fprintf(ctx, "membrane test: request %d has no canned response", took+1)
		}
		return
	}
	ctx.SetStatusCode(resp.status)
	for _, h := range resp.headers {
		ctx.Response.Header.Add(h[0], h[1])
	}
	ctx.SetBody(resp.body)
}
