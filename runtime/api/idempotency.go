package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

// Idempotency-Key (the IETF httpapi draft's header, as Stripe has it): a
// create or a run sent with a key the tenant chooses is done once; a
// retry with the same key and the same request gets the first answer,
// byte for byte, with Idempotent-Replayed: true.
const (
	// IdempotencyTTL is how long a key's answer is kept; maintenance
	// prunes it then.
	IdempotencyTTL = 24 * time.Hour
	// idempotencyLease is how long a claim in flight holds its key unless
	// renewed; its request renews it every third of that while it runs,
	// so a server that dies frees its keys after at most this long.
	idempotencyLease = 30 * time.Second
	// maxIdempotencyKey bounds a key's length.
	maxIdempotencyKey = 255
	// inFlightRetryAfter is the Retry-After of a key still in flight.
	inFlightRetryAfter = 1
)

// replayedHeaders are the response headers kept with an answer: those
// that describe its body.
var replayedHeaders = []string{"Content-Type", "Location"}

// claim is a key this request holds, for a handler that stores its
// answer itself (a create, atomically with the connection).
type claim struct {
	keys       store.IdempotencyKeys
	key, owner string
	// answer is what the handler stored, once it committed.
	answer *store.IdempotentResponse
}

type claimKey struct{}

// claimOf is the key the request holds, nil without one.
func claimOf(r *http.Request) *claim {
	c, _ := r.Context().Value(claimKey{}).(*claim)
	return c
}

// complete stores the answer in tx, with the work it answers for.
func (c *claim) complete(ctx context.Context, tx store.TenantStore, status int, header http.Header, body []byte) (*store.IdempotentResponse, error) {
	resp := &store.IdempotentResponse{Status: status, Header: map[string]string{}, Body: body}
	for _, h := range replayedHeaders {
		if v := header.Get(h); v != "" {
			resp.Header[h] = v
		}
	}
	if err := tx.IdempotencyKeys().Complete(ctx, c.key, c.owner, *resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// idempotent wraps a route that takes an Idempotency-Key.
func idempotent(fn func(a *api, w http.ResponseWriter, r *http.Request)) func(a *api, w http.ResponseWriter, r *http.Request) {
	return func(a *api, w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values("Idempotency-Key")
		if len(values) == 0 {
			fn(a, w, r)
			return
		}
		key, ok := idempotencyKey(values)
		if !ok {
			p := problem(http.StatusBadRequest, "invalid-request", "Idempotency-Key must be sent once, with 1 to 255 visible ASCII characters (a UUID, say). Send one key per logical request.")
			p.Errors = []FieldError{{Parameter: "Idempotency-Key", Detail: "1 to 255 visible ASCII characters, sent once"}}
			writeProblem(w, p)
			return
		}
		body, ok := readBody(w, r, "application/json")
		if !ok {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		keys := a.st.Tenant(tenantOf(r)).IdempotencyKeys()
		rec, claimed, err := keys.Claim(r.Context(), key, fingerprint(r, body), idempotencyLease, IdempotencyTTL)
		if err != nil {
			a.fail(w, r, "", err)
			return
		}
		if !claimed {
			a.answerTaken(w, r, rec, fingerprint(r, body))
			return
		}
		c := &claim{keys: keys, key: key, owner: rec.Owner}
		stop := a.renew(r.Context(), c)
		defer stop() // also if the handler panics
		buf := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		fn(a, buf, r.WithContext(context.WithValue(r.Context(), claimKey{}, c)))
		stop()
		a.settle(r, c, buf)
		buf.sendTo(w)
	}
}

// idempotencyKey reads the header: one value, maybe quoted as a
// structured-field string.
func idempotencyKey(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	k := strings.TrimSpace(values[0])
	if len(k) >= 2 && k[0] == '"' && k[len(k)-1] == '"' {
		k = k[1 : len(k)-1]
	}
	if k == "" || len(k) > maxIdempotencyKey {
		return "", false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", false
		}
	}
	return k, true
}

// fingerprint identifies a request: the same key must come with the same
// method, path and body, byte for byte.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.EscapedPath() + "\n"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// answerTaken answers a request whose key another request holds or held.
func (a *api) answerTaken(w http.ResponseWriter, r *http.Request, rec *store.IdempotencyRecord, fp string) {
	switch {
	case rec.Fingerprint != fp:
		p := problem(http.StatusUnprocessableEntity, "idempotency-key-reused",
			"This Idempotency-Key was used for another request (another path or body) in the last 24 hours. Use a new key for a new request; a retry must repeat the first request exactly.")
		p.Errors = []FieldError{{Parameter: "Idempotency-Key", Detail: "already used for another request"}}
		writeProblem(w, p)
	case rec.Status == 0:
		p := problem(http.StatusConflict, "idempotency-key-in-flight",
			"A request with this Idempotency-Key is still being handled. Retry after Retry-After seconds to get its answer.")
		p.retryAfter = inFlightRetryAfter
		writeProblem(w, p)
	default:
		h := w.Header()
		for k, v := range rec.Header {
			h.Set(k, v)
		}
		h.Set("Content-Length", strconv.Itoa(len(rec.Body)))
		h.Set("Idempotent-Replayed", "true")
		w.WriteHeader(rec.Status)
		_, _ = w.Write(rec.Body)
	}
}

// renew extends the claim every third of its lease until stop is called.
func (a *api) renew(ctx context.Context, c *claim) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(idempotencyLease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := c.keys.Extend(ctx, c.key, c.owner, idempotencyLease)
			if errors.Is(err, store.ErrLeaseLost) {
				return
			}
			if err != nil && ctx.Err() == nil {
				a.log.WarnContext(ctx, "api: idempotency key not renewed", "error", err.Error())
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// settle keeps the answer for the key, or frees the key. An answer that
// says "try again" (5xx, 429) is not kept: the retry runs anew. A failure
// to keep the answer is logged; the key then stays claimed until its
// lease lapses, and the answer still goes out.
func (a *api) settle(r *http.Request, c *claim, buf *bufferedResponse) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if c.answer != nil {
		return // stored with the work, by the handler
	}
	var err error
	if buf.status >= 500 || buf.status == http.StatusTooManyRequests {
		err = c.keys.Release(ctx, c.key, c.owner)
	} else {
		err = c.keys.Complete(ctx, c.key, c.owner, buf.answer())
	}
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "api: idempotency key not settled", slog.String("route", r.Pattern), slog.String("error", err.Error()))
	}
}

// bufferedResponse holds an answer until the key is settled, so a key's
// answer is kept before the client can see it and retry.
type bufferedResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if !b.wrote {
		b.status, b.wrote = status, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

func (b *bufferedResponse) answer() store.IdempotentResponse {
	resp := store.IdempotentResponse{Status: b.status, Header: map[string]string{}, Body: b.body.Bytes()}
	for _, h := range replayedHeaders {
		if v := b.header.Get(h); v != "" {
			resp.Header[h] = v
		}
	}
	return resp
}

func (b *bufferedResponse) sendTo(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range b.header {
		h[k] = vs
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
