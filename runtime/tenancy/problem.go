package tenancy

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// The two bodies are built once: every 401 is byte-for-byte the same
// whatever the reason, so a caller probing with forged tokens learns
// nothing (no oracle), and answering one costs no encoding.
var (
	unauthorizedBody = mustProblem(problem{
		Type:   "about:blank",
		Title:  "Unauthorized",
		Status: http.StatusUnauthorized,
		Detail: "A valid bearer token is required: Authorization: Bearer <token>, a JWT signed with the workspace secret.",
	})
	forbiddenBody = mustProblem(problem{
		Type:   "about:blank",
		Title:  "Forbidden",
		Status: http.StatusForbidden,
		Detail: "This operation needs an admin token (isAdmin: true).",
	})
)

func mustProblem(p problem) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func writeProblem(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", "Bearer")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
