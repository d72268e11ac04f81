package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// OpenAPI is the API's OpenAPI 3.1 document, kept by hand next to the
// code; the tests hold it to the route table and to real responses.
//
//go:embed openapi.json
var OpenAPI []byte

func (a *api) openAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(OpenAPI)))
	// Public and the same for everyone: a cache may keep it a while.
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(OpenAPI)
}
