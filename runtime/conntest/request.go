package conntest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/tree"
)

// Parts of a request checkRequest compares.
const (
	// partKey is what chooses a request's canned exchange: method, path,
	// query and body.
	partKey = 1 << iota
	// partHeaders are the headers the case names.
	partHeaders
	partAll = partKey | partHeaders
)

// checkRequest compares a request sent with the n-th request (1-based)
// the case lists, in the given parts.
func checkRequest(n int, want *spec.TestRequest, got sentRequest, parts int) []string {
	d := &differ{what: fmt.Sprintf("request %d", n), partial: want.Match == spec.MatchPartial}
	if parts&partKey != 0 {
		keyDiff(d, want, got)
	}
	if parts&partHeaders != 0 {
		headerDiff(d, want, got)
	}
	if parts&partKey != 0 && want.Body != nil {
		bodyDiff(d, want, got)
	}
	return d.lines
}

// keyDiff compares the method, path and query.
func keyDiff(d *differ, want *spec.TestRequest, got sentRequest) {
	if want.Method != "" && !strings.EqualFold(want.Method, got.Method) {
		d.add("method", "want %s, got %s", want.Method, got.Method)
	}
	if want.Path != "" && want.Path != got.Path {
		d.add("path", "want %q, got %q", want.Path, got.Path)
	}
	if want.Query != nil {
		q, _ := url.ParseQuery(got.Query)
		qd := &differ{what: d.what + " query", partial: d.partial}
		qd.compare("", textTree(want.Query), formTree(q))
		d.lines = append(d.lines, qd.lines...)
	}
}

// headerDiff compares the headers the case names.
func headerDiff(d *differ, want *spec.TestRequest, got sentRequest) {
	for _, name := range sortedKeys(want.Headers) {
		w := want.Headers[name]
		vals := got.Header.Values(name)
		switch {
		case w.Kind == tree.Null && len(vals) > 0:
			d.add("header "+name, "want %s, got %q", absent, strings.Join(vals, ", "))
		case w.Kind == tree.Null:
		case len(vals) == 0:
			d.add("header "+name, "want %q, got %s", scalarText(w), absent)
		case strings.Join(vals, ", ") != scalarText(w):
			d.add("header "+name, "want %q, got %q", scalarText(w), strings.Join(vals, ", "))
		}
	}
}

// bodyDiff compares the body.
func bodyDiff(d *differ, want *spec.TestRequest, got sentRequest) {
	bd := &differ{what: d.what + " body", partial: d.partial}
	gotBody, form := decodeBody(got)
	wantBody := plain(want.Body.Interface())
	if form {
		wantBody = textTree(want.Body)
	}
	bd.compare("", wantBody, gotBody)
	d.lines = append(d.lines, bd.lines...)
}

// decodeBody reads a request body by its Content-Type: JSON as JSON, a
// form as a mapping of its fields (a list for a repeated one), anything
// else as text. form reports a form body, whose values are all text.
func decodeBody(r sentRequest) (body any, form bool) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(r.Body) == 0:
		return nil, false
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		var v any
		if json.Unmarshal(r.Body, &v) == nil {
			return v, false
		}
	case mt == "application/x-www-form-urlencoded":
		if q, err := url.ParseQuery(string(r.Body)); err == nil {
			return formTree(q), true
		}
	case mt == "multipart/form-data":
		if m, ok := multipartTree(r.Body, params["boundary"]); ok {
			return m, false
		}
	}
	return string(r.Body), false
}

// multipartTree reads a multipart body in the shape a request writes it
// (see the request's encoding: multipart), so a case lists it the same
// way: a text part is its text, a file {base64, filename, contentType},
// a JSON part {json: value}, a repeated name a list.
func multipartTree(body []byte, boundary string) (map[string]any, bool) {
	if boundary == "" {
		return nil, false
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	m := map[string]any{}
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return m, true
		}
		if err != nil {
			return nil, false
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, false
		}
		var v any = string(data)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch {
		case p.FileName() != "":
			v = map[string]any{"base64": base64.StdEncoding.EncodeToString(data), "filename": p.FileName(), "contentType": p.Header.Get("Content-Type")}
		case ct == "application/json":
			var j any
			if json.Unmarshal(data, &j) == nil {
				v = map[string]any{"json": j}
			}
		}
		name := p.FormName()
		switch prev := m[name].(type) {
		case nil:
			m[name] = v
		case []any:
			m[name] = append(prev, v)
		default:
			m[name] = []any{prev, v}
		}
	}
}

// formTree is a query or form as compare takes it: a field sent once is
// text, a repeated one a list.
func formTree(q url.Values) map[string]any {
	m := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) == 1 {
			m[k] = vs[0]
			continue
		}
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		m[k] = l
	}
	return m
}

// textTree is an expected query or form with every scalar as its text, as
// it travels: `limit: 100` matches limit=100. Null stays null (absent).
func textTree(x any) any {
	switch v := x.(type) {
	case map[string]*tree.Value:
		m := make(map[string]any, len(v))
		for k, it := range v {
			m[k] = textTree(it)
		}
		return m
	case *tree.Value:
		switch v.Kind {
		case tree.Null:
			return nil
		case tree.Map:
			m := make(map[string]any, len(v.Fields))
			for _, f := range v.Fields {
				m[f.Key] = textTree(f.Value)
			}
			return m
		case tree.List:
			l := make([]any, len(v.Items))
			for i, it := range v.Items {
				l[i] = textTree(it)
			}
			return l
		}
		return scalarText(v)
	}
	return x
}

// describe is how a report names an expected request: "POST /v1/customers".
func describe(r *spec.TestRequest) string {
	m := r.Method
	if m == "" {
		m = "a request"
	}
	if r.Path != "" {
		return m + " " + r.Path
	}
	return m
}
