package verify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/spec/compile"
)

// compileSig compiles one signature block written in YAML, loaded as a
// workspace file is.
func compileSig(t testing.TB, yaml string) *compile.Signature {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"connector.yaml": "kind: Connector\nkey: hooks\nbaseUrl: https://api.hooks.test\nauth: {type: none}\n",
		"event.yaml":     "kind: Event\nconnector: hooks\nkey: e\nwebhook:\n  records: ${ [request.body] }\n  id: ${ request.body.id }\n  signature:\n" + indent(yaml, "    "),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ws, d := layers.Load(dir)
	if len(d) > 0 {
		t.Fatalf("%s: %s", files["event.yaml"], d)
	}
	c := compile.NewEvent(ws.Connectors["hooks"], ws.Events["hooks"]["e"], nil, &d)
	if len(d) > 0 || c.Signature == nil {
		t.Fatalf("%s: %s", files["event.yaml"], d)
	}
	return c.Signature
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = by + strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n") + "\n"
}

func hexMAC(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

func TestNewRequest(t *testing.T) {
	body := "b=2&a=1&a=3"
	r := httptest.NewRequest("POST", "/webhooks/x%2Fy?z=1&z=2&q=%20", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Add("X-Multi", "first")
	r.Header.Add("X-Multi", "second")
	req := verify.NewRequest(r, []byte(body), "https://hooks.example.test/")
	if req.URL != "https://hooks.example.test/webhooks/x%2Fy?z=1&z=2&q=%20" {
		t.Errorf("URL = %q: the path and query must stay as they arrived", req.URL)
	}
	if req.Path != "/webhooks/x/y" || req.Headers["x-multi"] != "first" || req.Query["z"] != "1" || req.Query["q"] != " " {
		t.Errorf("path %q, headers %v, query %v", req.Path, req.Headers, req.Query)
	}
	if req.Form["a"] != "1" || req.Form["b"] != "2" || req.BodyErr != nil {
		t.Errorf("form %v (%v)", req.Form, req.BodyErr)
	}
	if m, ok := req.Body.(map[string]any); !ok || m["b"] != "2" {
		t.Errorf("body %#v", req.Body)
	}
	v := req.Var()
	if v["rawBody"] != body || v["method"] != "POST" {
		t.Errorf("Var() = %v", v)
	}

	// Without a public URL: the Host, over https only when TLS carried it.
	r = httptest.NewRequest("POST", "http://app.local:8080/h?x=1", strings.NewReader(`{"id": 1, "n": 2.5}`))
	req = verify.NewRequest(r, []byte(`{"id": 1, "n": 2.5}`), "")
	if req.URL != "http://app.local:8080/h?x=1" {
		t.Errorf("URL = %q", req.URL)
	}
	if m, ok := req.Body.(map[string]any); !ok || m["id"] != int64(1) || m["n"] != 2.5 {
		t.Errorf("JSON body %#v: integers must be int64 for CEL", req.Body)
	}
	r.TLS = &tls.ConnectionState{}
	if got := verify.NewRequest(r, nil, "").URL; got != "https://app.local:8080/h?x=1" {
		t.Errorf("URL over TLS = %q", got)
	}

	r = httptest.NewRequest("POST", "/h", nil)
	r.Header.Set("Content-Type", "application/json")
	req = verify.NewRequest(r, []byte(`{"id": `), "")
	var be *verify.BodyError
	if req.Body != nil || !errors.As(req.BodyErr, &be) {
		t.Errorf("malformed JSON: body %v, err %v", req.Body, req.BodyErr)
	}
}

func send(sig *compile.Signature, headers map[string]string, body string) *verify.Request {
	r := httptest.NewRequest("POST", "/h", strings.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return verify.NewRequest(r, []byte(body), "https://hooks.example.test")
}

// TestErrorsKeepSecrets: no refusal names the secret, the key or the
// signature Membrane expected.
func TestErrorsKeepSecrets(t *testing.T) {
	ctx := context.Background()
	const secret = "sup3r-s3cret-value"
	sig := compileSig(t, `
		header: X-Sig
		timestamp: ${ request.headers["x-ts"] }
		payload: ${ request.headers["x-ts"] + "." + request.rawBody }
		secret: ${ subscription.secret }`)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := `{"id":1}`
	good := hexMAC(secret, ts+"."+body)
	cases := []struct {
		name    string
		headers map[string]string
		secret  any
		now     time.Time
		want    error
	}{
		{"good", map[string]string{"X-Sig": good, "X-Ts": ts}, secret, now, nil},
		{"upper-case hex", map[string]string{"X-Sig": strings.ToUpper(good), "X-Ts": ts}, secret, now, nil},
		{"wrong", map[string]string{"X-Sig": hexMAC("other", ts+"."+body), "X-Ts": ts}, secret, now, verify.ErrBadSignature},
		{"not hex", map[string]string{"X-Sig": "zz" + good[2:], "X-Ts": ts}, secret, now, verify.ErrBadSignature},
		{"missing", map[string]string{"X-Ts": ts}, secret, now, verify.ErrMissingSignature},
		{"no timestamp", map[string]string{"X-Sig": good}, secret, now, verify.ErrMalformed},
		{"stale", map[string]string{"X-Sig": good, "X-Ts": ts}, secret, now.Add(6 * time.Minute), verify.ErrStaleTimestamp},
		{"future", map[string]string{"X-Sig": good, "X-Ts": ts}, secret, now.Add(-6 * time.Minute), verify.ErrFutureTimestamp},
		{"empty secret", map[string]string{"X-Sig": good, "X-Ts": ts}, "", now, verify.ErrNoSecret},
		{"secret not text", map[string]string{"X-Sig": good, "X-Ts": ts}, map[string]any{"k": secret}, now, verify.ErrNoSecret},
	}
	for _, c := range cases {
		vars := map[string]any{compile.VarSubscription: map[string]any{"secret": c.secret}}
		err := verify.Verify(ctx, sig, send(sig, c.headers, body), vars, c.now)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if err != nil {
			var ve *verify.Error
			if !errors.As(err, &ve) || ve.Header != "X-Sig" {
				t.Errorf("%s: %T %v is not a *verify.Error naming X-Sig", c.name, err, err)
			}
			for _, leak := range []string{secret, good, strings.ToUpper(good)} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("%s: the error %q holds %q", c.name, err, leak)
				}
			}
		}
	}
	// The secret expression failing names where it is written, not what
	// it read.
	err := verify.Verify(ctx, sig, send(sig, map[string]string{"X-Sig": good, "X-Ts": ts}, body), map[string]any{compile.VarSubscription: map[string]any{}}, now)
	if !errors.Is(err, verify.ErrNoSecret) || !strings.Contains(err.Error(), "event.yaml:") {
		t.Errorf("no secret in the subscription: %v", err)
	}
	if err := verify.Verify(ctx, nil, send(sig, nil, body), nil, now); err != nil {
		t.Errorf("no signature check: %v", err)
	}
}

// TestTimestamps: the forms a signed timestamp may take.
func TestTimestamps(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		expr, ts  string
		tolerance string
		at        time.Time
		want      error
	}{
		{`${ request.headers["x-ts"] }`, "1800000000", "", now, nil},
		{`${ request.headers["x-ts"] }`, "1800000000.25", "", now, nil},
		{`${ request.headers["x-ts"] }`, "soon", "", now, verify.ErrMalformed},
		{`${ request.headers["x-ts"] }`, "", "", now, verify.ErrMalformed},
		{`${ request.headers["x-ts"] }`, "1e300", "", now, verify.ErrMalformed},
		{`${ int(request.headers["x-ts"]) / 1000 }`, "1800000000000", "", now, nil},
		{`${ double(request.headers["x-ts"]) }`, "1800000000", "", now, nil},
		{`${ timestamp(request.headers["x-ts"]) }`, "2027-01-15T08:00:00Z", "", now, nil},
		{`${ request.headers["x-ts"] }`, "1800000000", "30s", now.Add(31 * time.Second), verify.ErrStaleTimestamp},
		{`${ request.headers["x-ts"] }`, "1800000000", "30s", now.Add(29 * time.Second), nil},
		{`${ request.headers["x-ts"] }`, "1800000000", "", now.Add(299 * time.Second), nil},
		{`${ request.headers["x-ts"] }`, "1800000000", "", now.Add(301 * time.Second), verify.ErrStaleTimestamp},
	} {
		y := "header: X-Sig\nsecret: s\ntimestamp: " + c.expr
		if c.tolerance != "" {
			y += "\ntolerance: " + c.tolerance
		}
		sig := compileSig(t, y)
		h := map[string]string{"X-Sig": hexMAC("s", "{}")}
		if c.ts != "" {
			h["X-Ts"] = c.ts
		}
		at := c.at
		if strings.HasPrefix(c.ts, "2027") {
			at = time.Date(2027, 1, 15, 8, 1, 0, 0, time.UTC)
		}
		err := verify.Verify(ctx, sig, send(sig, h, "{}"), nil, at)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s with %q (tolerance %q): got %v, want %v", c.expr, c.ts, c.tolerance, err, c.want)
		}
	}
}

// TestSecretEncodings: a base64 secret with a prefix to strip, and
// hmac-sha512.
func TestSecretEncodings(t *testing.T) {
	ctx := context.Background()
	sig := compileSig(t, "header: X-Sig\nsecret: ${ subscription.secret }\nsecretPrefix: whsec_\nsecretEncoding: base64\nalgorithm: hmac-sha512\nencoding: base64\nprefix: \"sha512=\"")
	if sig.Algorithm != "hmac-sha512" || sig.Encoding != "base64" || sig.Tolerance != 0 || sig.Header != "x-sig" {
		t.Fatalf("compiled %+v", sig)
	}
	// "a2V5" is base64 of "key"; the MAC of "{}" keyed "key" with SHA-512
	// (openssl dgst -sha512 -hmac key -binary | base64):
	want := "sha512=Vfq9qhgscO4gaxIU1E41DJlHed/DQkGyhtxtPxKizXD2ueV/GdZhqG2EhgSHRLoYwP6PgheDB1+QibWF5e3XKQ=="
	vars := map[string]any{compile.VarSubscription: map[string]any{"secret": "whsec_a2V5"}}
	if err := verify.Verify(ctx, sig, send(sig, map[string]string{"X-Sig": want}, "{}"), vars, time.Now()); err != nil {
		t.Errorf("base64 secret: %v", err)
	}
	vars = map[string]any{compile.VarSubscription: map[string]any{"secret": "whsec_!!"}}
	err := verify.Verify(ctx, sig, send(sig, map[string]string{"X-Sig": want}, "{}"), vars, time.Now())
	if !errors.Is(err, verify.ErrNoSecret) {
		t.Errorf("a secret that is not base64: %v", err)
	}
}
