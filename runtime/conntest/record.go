package conntest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
)

// RecordOptions configure Record.
type RecordOptions struct {
	// Getenv reads the variables credentials name (env:NAME); os.LookupEnv
	// by default.
	Getenv func(name string) (string, bool)
	// Dial replaces the network, for tests of the recorder itself.
	Dial func(addr string) (net.Conn, error)
}

// Recorded says what Record wrote into one file.
type Recorded struct {
	File      string
	Responses int
}

// Record runs each case against the real API (the connector's base URL,
// the credentials read from the environment) and writes the responses it
// got into the case's `responses:`, redacted, keeping the rest of the file
// as written. Cases run one after the other: a real API has rate limits.
func Record(ctx context.Context, ws *spec.Workspace, cases []Case, o RecordOptions) ([]Recorded, error) {
	if o.Getenv == nil {
		o.Getenv = os.LookupEnv
	}
	rt := membrane.New(membrane.Options{}, ws)
	r := &Runner{rt: rt}
	byFile := map[string][]splice{}
	var files []string
	var errs []error
	for _, c := range cases {
		sp, err := recordCase(ctx, r, c, ws, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f := c.Test.Source.File
		if _, ok := byFile[f]; !ok {
			files = append(files, f)
		}
		byFile[f] = append(byFile[f], sp)
	}
	var out []Recorded
	for _, f := range files {
		n, err := writeSplices(f, byFile[f])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Recorded{File: f, Responses: n})
	}
	return out, errors.Join(errs...)
}

func recordCase(ctx context.Context, r *Runner, c Case, ws *spec.Workspace, o RecordOptions) (splice, error) {
	if c.Spec().IsEvent() {
		return splice{}, fmt.Errorf("%s: %s: --record records action cases only; write an event case's responses by hand (or record the list action it polls like) and run it without --record", c.Pos, c.Name)
	}
	if data, err := os.ReadFile(c.Test.Source.File); err != nil {
		return splice{}, fmt.Errorf("%s: cannot read: %v", c.Test.Source.File, err)
	} else if flowStyle(strings.SplitAfter(string(data), "\n"), c) {
		return splice{}, fmt.Errorf("%s: %s: the case is written in flow style ({…}); write it in block style (a key a line) to record it", c.Pos, c.Name)
	}
	conn, overrides := r.connection(c)
	creds, err := fromEnv(c, conn.Credentials, o.Getenv)
	if err != nil {
		return splice{}, err
	}
	conn.Credentials = creds
	plan, err := r.rt.Plan(c.Test.Connector, c.Action(), overrides...)
	if err != nil {
		return splice{}, fmt.Errorf("%s: %s: cannot resolve the action: %v", c.Pos, c.Name, err)
	}
	var mu sync.Mutex
	var got []recordedResponse
	var sent []sentRequest
	rd := engine.NewRedactor(engine.SecretsOf(creds, nil))
	client := httpx.New(httpx.Config{
		AllowPrivate:    ws.Config.AllowPrivate(),
		AllowedNetworks: ws.Config.AllowedNetworks(),
		Dial:            o.Dial,
		Trace: func(a *httpx.Attempt) {
			if a.Response == nil {
				return
			}
			sr := sentRequest{Method: a.Method, Header: a.RequestHeader.Clone(), Body: slices.Clone(a.RequestBody)}
			if u, err := url.Parse(a.URL); err == nil {
				sr.Path, sr.Query = u.EscapedPath(), u.RawQuery
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, redactResponse(rd, a.Response.Status, a.Response.Header, a.Response.Body))
			sent = append(sent, sr)
		},
	})
	defer client.CloseIdleConnections()
	eng := engine.New(engine.Options{HTTP: client})
	_, runErr := eng.Run(ctx, plan, &conn, input(c.Spec()), engine.RunOptions{})
	if len(got) == 0 {
		if runErr != nil {
			return splice{}, fmt.Errorf("%s: %s: no response to record: %v", c.Pos, c.Name, runErr)
		}
	}
	return splice{c: c, responses: inListedOrder(c.Spec().Requests, sent, got)}, nil
}

// inListedOrder puts recorded responses in the order of the requests the
// case lists, each after the request it answered as `membrane test`
// matches them, so that requests sent at once (a concurrent forEach)
// replay as they were recorded whatever order they came in. It keeps the
// order of arrival when the case lists no requests, or when its listed
// requests do not account for a prefix of what was sent.
func inListedOrder(want []spec.TestRequest, sent []sentRequest, got []recordedResponse) []recordedResponse {
	if len(want) == 0 || len(sent) != len(got) {
		return got
	}
	x := newExchanges(want, nil)
	slots := make([]*recordedResponse, len(want))
	var extra []recordedResponse
	for k, sr := range sent {
		if _, i := x.answer(sr); i >= 0 && i < len(slots) {
			slots[i] = &got[k]
		} else {
			extra = append(extra, got[k])
		}
	}
	out := make([]recordedResponse, 0, len(got))
	for i, r := range slots {
		if r == nil {
			if slices.ContainsFunc(slots[i:], func(r *recordedResponse) bool { return r != nil }) {
				return got // a gap: the listed requests do not say the order
			}
			break
		}
		out = append(out, *r)
	}
	return append(out, extra...)
}

// fromEnv replaces credentials written env:NAME by the variable's value.
func fromEnv(c Case, creds map[string]any, getenv func(string) (string, bool)) (map[string]any, error) {
	out := maps.Clone(creds)
	for _, k := range slices.Sorted(maps.Keys(creds)) {
		s, ok := creds[k].(string)
		if !ok {
			continue
		}
		name, isEnv := strings.CutPrefix(s, "env:")
		if !isEnv {
			continue
		}
		v, set := getenv(name)
		if !set || v == "" {
			return nil, fmt.Errorf("%s: %s: credential %s reads env:%s, which is not set; export %s to record", c.Pos, c.Name, k, name, name)
		}
		out[k] = v
	}
	return out, nil
}

// droppedHeaders are response headers not worth keeping in a test: they
// belong to the transport, the CDN or the browser, or change every call.
var droppedHeaders = map[string]bool{
	"Date": true, "Content-Length": true, "Connection": true, "Keep-Alive": true,
	"Transfer-Encoding": true, "Server": true, "Strict-Transport-Security": true,
	"Vary": true, "Cache-Control": true, "Expires": true, "Pragma": true, "Age": true,
	"Via": true, "Alt-Svc": true, "Set-Cookie": true, "Report-To": true, "Nel": true,
	"Content-Security-Policy": true, "X-Content-Type-Options": true, "X-Frame-Options": true,
	"X-Xss-Protection": true, "Referrer-Policy": true, "Permissions-Policy": true,
	"Request-Id": true, "X-Request-Id": true, "Cf-Ray": true, "Cf-Cache-Status": true,
	"Content-Encoding": true, "Etag": true, "Last-Modified": true,
}

type recordedResponse struct {
	status  int
	headers [][2]string
	body    string
}

func redactResponse(rd *engine.Redactor, status int, h http.Header, body []byte) recordedResponse {
	r := recordedResponse{status: status, body: rd.String(string(body))}
	h = rd.Header(h)
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if droppedHeaders[k] || strings.HasPrefix(k, "Access-Control-") || strings.HasPrefix(k, "Cross-Origin-") {
			continue
		}
		r.headers = append(r.headers, [2]string{k, strings.Join(h[k], ", ")})
	}
	return r
}
