package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// writeJSON answers v as JSON. It is encoded before the status is sent, so
// a value that cannot be encoded is still a 500 and not half a body.
func (a *api) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.writeRaw(w, status, "application/json", append(b, '\n'))
}

// writeRaw answers a body already encoded.
func (a *api) writeRaw(w http.ResponseWriter, status int, contentType string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// list is the body of a listing; Next is absent on the last page.
type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

func listOf[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, Next: next}
}

// tenantOf is the token's tenant. Every tenant route is behind the
// middleware, so the claims are there; without them nothing is served.
func tenantOf(r *http.Request) string {
	c, ok := tenancy.FromContext(r.Context())
	if !ok {
		panic("api: a tenant route without the tenancy middleware")
	}
	return c.Tenant
}
