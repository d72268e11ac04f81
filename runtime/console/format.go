package console

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/membrane-dev/membrane/runtime/engine"
)

func quote(s string) string { return strconv.Quote(s) }

// pretty writes a value as indented JSON; "" for nothing.
func pretty(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return ""
	}
	return prettyText(string(b))
}

// prettyText indents a body that is JSON, and leaves any other as it is.
func prettyText(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") == nil {
		return buf.String()
	}
	return s
}

type headerView struct{ Name, Value string }

func headers(h http.Header) []headerView {
	var out []headerView
	for _, k := range sortedKeys(h) {
		for _, v := range h[k] {
			out = append(out, headerView{Name: k, Value: v})
		}
	}
	return out
}

// exchangeView is one request and its response, as the engine redacted it.
type exchangeView struct {
	Method, URL, Error, Duration  string
	Status, Attempts              int
	RequestHeaders, ResponseHeads []headerView
	RequestBody, ResponseBody     string
}

func exchanges(log []engine.Exchange) []exchangeView {
	out := make([]exchangeView, 0, len(log))
	for _, x := range log {
		out = append(out, exchangeView{Method: x.Method, URL: x.URL, Error: x.Error, Status: x.Status, Attempts: x.Attempts,
			Duration:       x.Duration.Round(time.Millisecond / 10).String(),
			RequestHeaders: headers(x.RequestHeaders), ResponseHeads: headers(x.ResponseHeaders),
			RequestBody: prettyText(x.RequestBody), ResponseBody: prettyText(x.ResponseBody)})
	}
	return out
}

// violationsText lists an error's violations, each with its pointer.
func violationsText(vs []engine.Violation) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, strings.TrimSpace(cmp.Or(v.Pointer, "/")+": "+v.Message))
	}
	return slices.Compact(out)
}
