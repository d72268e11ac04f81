package server

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// bodyDeadline gives a request's body d to arrive, from when its handler
// starts: a client that trickles a body is cut off (the read fails, the
// API answers 408, and the connection is closed) instead of holding a
// connection and a goroutine as long as it likes. The deadline is lifted
// once the body has been read to its end, so it never cuts a long run:
// http.Server's own ReadTimeout would, since it also covers the time the
// handler runs. A request without a body is left alone.
func bodyDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // a connection without deadlines (a test recorder)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline once the body ends.
type deadlineBody struct {
	io.ReadCloser
	lift func()
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(b.lift)
	}
	return n, err
}
