package testkit

import (
	"net/http"
	"net/http/httptest"
	"sync"
)

// Served keeps every response a handler gives, for a test to look
// through for leaks (a token, a secret) once a flow is done.
type Served struct {
	mu    sync.Mutex
	resps []Response
}

// Response is one answer a Served handler gave.
type Response struct {
	Method, URL string
	Status      int
	Header      http.Header
	Body        string
}

// All returns every response so far, oldest first.
func (s *Served) All() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.resps...)
}

// Wrap serves h, keeping each response; a request for which stream says
// true (an event stream, which never ends) is passed through unkept.
func (s *Served) Wrap(h http.Handler, stream func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stream != nil && stream(r) {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		s.resps = append(s.resps, Response{Method: r.Method, URL: r.URL.String(), Status: rec.Code, Header: rec.Header().Clone(), Body: rec.Body.String()})
		s.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}
