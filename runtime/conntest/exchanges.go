package conntest

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/tree"
)

// sentRequest is one request the fake received, as it came on the wire.
type sentRequest struct {
	Method string
	Path   string // as sent, percent-encoded
	Query  string // raw
	Header http.Header
	Body   []byte
}

// Line is how a report names the request: "GET /v1/customers?limit=100".
func (r sentRequest) Line() string {
	if r.Query == "" {
		return r.Method + " " + r.Path
	}
	return r.Method + " " + r.Path + "?" + r.Query
}

// canned is a response ready to write.
type canned struct {
	status  int
	headers [][2]string
	body    []byte
}

// cannedResponses prepares a case's responses once: a mapping or list body
// is JSON, text is sent as it is.
func cannedResponses(rs []spec.TestResponse) []canned {
	out := make([]canned, len(rs))
	for i, r := range rs {
		c := canned{status: r.Status}
		if c.status == 0 {
			c.status = http.StatusOK
		}
		hasType := false
		for _, name := range sortedKeys(r.Headers) {
			v := r.Headers[name]
			if http.CanonicalHeaderKey(name) == "Content-Type" {
				hasType = true
			}
			c.headers = append(c.headers, [2]string{name, scalarText(v)})
		}
		switch {
		case r.Body == nil || r.Body.Kind == tree.Null:
		case r.Body.Kind == tree.String:
			c.body = []byte(r.Body.Str)
			if !hasType {
				c.headers = append(c.headers, [2]string{"Content-Type", "text/plain; charset=utf-8"})
			}
		default:
			c.body, _ = json.Marshal(r.Body)
			if !hasType {
				c.headers = append(c.headers, [2]string{"Content-Type", "application/json"})
			}
		}
		out[i] = c
	}
	return out
}

// scalarText is the text of a scalar written in YAML (a header value, a
// query parameter, a form field).
func scalarText(v *tree.Value) string {
	switch v.Kind {
	case tree.String:
		return v.Str
	case tree.Int:
		return strconv.FormatInt(v.Int, 10)
	case tree.Float:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case tree.Bool:
		return strconv.FormatBool(v.Bool)
	case tree.Null:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
