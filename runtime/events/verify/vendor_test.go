package verify_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
)

// publicURL is where the tests' apps send webhooks: the URL schemes such as
// HubSpot v3 and Twilio sign.
const publicURL = "https://hooks.example.test"

// checks loads testdata/workspace, whose events hold each vendor's
// signature block as an author writes it, and compiles them.
func checks(t testing.TB) map[string]*compile.Signature {
	t.Helper()
	ws, diags := layers.Load("testdata/workspace")
	if len(diags) > 0 {
		t.Fatalf("testdata/workspace: %s", diags)
	}
	out := map[string]*compile.Signature{}
	for key, ev := range ws.Events["hooks"] {
		var d diag.List
		ce := compile.NewEvent(ws.Connectors["hooks"], ev, nil, &d)
		if len(d) > 0 || ce.Signature == nil {
			t.Fatalf("event %s: %s", key, d)
		}
		out[key] = ce.Signature
	}
	return out
}

// signJob is what testdata/sign.mjs signs.
type signJob struct {
	Scheme    string            `json:"scheme"`
	Secrets   []string          `json:"secrets"`
	Body      string            `json:"body"`
	URL       string            `json:"url,omitempty"`
	Method    string            `json:"method,omitempty"`
	Timestamp int64             `json:"timestamp,omitempty"`
	ID        string            `json:"id,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
	// Check: the vendor's own verifier must accept the result too.
	Check bool `json:"check"`
}

// vendorSign signs jobs with the vendors' published code (testdata/sign.mjs
// in node). Without node or its packages the test is skipped, or fails
// when CI is set: scripts/install-test-deps.sh installs them.
func vendorSign(t *testing.T, jobs []signJob) []map[string]string {
	t.Helper()
	const install = "runtime/events/verify/testdata/install.sh"
	node, err := exec.LookPath("node")
	if err != nil {
		testkit.SkipOrFail(t, "node is not on PATH", install)
	}
	for _, pkg := range []string{"@octokit/webhooks-methods", "standardwebhooks", "twilio", "@hubspot/api-client", "@slack/bolt"} {
		if _, err := os.Stat(filepath.Join("testdata", "node_modules", pkg, "package.json")); err != nil {
			testkit.SkipOrFail(t, pkg+" is not installed", install)
		}
	}
	in, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "sign.mjs")
	cmd.Dir = "testdata"
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node sign.mjs: %v\n%s", err, stderr.String())
	}
	var headers []map[string]string
	if err := json.Unmarshal(out, &headers); err != nil || len(headers) != len(jobs) {
		t.Fatalf("node sign.mjs answered %q: %v", out, err)
	}
	return headers
}

// sent is one request as an app sends it.
type sent struct {
	method, path string
	body         string
	headers      map[string]string
}

func (s sent) request() *verify.Request {
	r := httptest.NewRequest(s.method, s.path, strings.NewReader(s.body))
	for k, v := range s.headers {
		r.Header.Set(k, v)
	}
	if r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return verify.NewRequest(r, []byte(s.body), publicURL)
}

// tampered changes one byte of the body.
func (s sent) tampered() sent {
	b := []byte(s.body)
	i := len(b) / 2
	b[i] ^= 0x01
	s.body = string(b)
	return s
}

func (s sent) without(header string) sent {
	h := map[string]string{}
	for k, v := range s.headers {
		if !strings.EqualFold(k, header) {
			h[k] = v
		}
	}
	s.headers = h
	return s
}

func secretVars(secret string) map[string]any {
	return map[string]any{compile.VarSubscription: map[string]any{"secret": secret}}
}

func randomWhsec(t testing.TB) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// vendor is one scheme under test: its event in testdata/workspace, how an
// app sends a request, and whether the scheme signs a timestamp.
type vendor struct {
	event     string
	scheme    string
	secret    string
	method    string
	path      string
	body      string
	params    map[string]string // Twilio: the POST parameters (the body is their form encoding)
	timestamp bool
}

func vendors(t testing.TB) []vendor {
	twilioParams := map[string]string{
		"AccountSid": "AC0123456789abcdef0123456789abcdef", "MessageSid": "SM42", "From": "+15005550006",
		"To": "+15005550001", "Body": "Hello, wörld & more=yes", "NumMedia": "0",
	}
	form := url.Values{}
	for k, v := range twilioParams {
		form.Set(k, v)
	}
	return []vendor{
		{event: "github", scheme: "github", secret: "It's a Secret to Everybody", method: "POST", path: "/webhooks/github",
			body: `{"id":1,"action":"opened","issue":{"title":"Ünïcode"}}`},
		{event: "slack", scheme: "slack", secret: "8f742231b10e8888abcd99yyyzzz85a5", method: "POST", path: "/webhooks/slack",
			body: `{"token":"x","team_id":"T1","event":{"type":"message","text":"hi"},"type":"event_callback","id":"Ev1"}`, timestamp: true},
		{event: "hubspot", scheme: "hubspot", secret: "hubspot-client-secret", method: "POST", path: "/webhooks/hubspot?portal=62515",
			body: `[{"objectId":1246965,"propertyName":"lifecyclestage","portalId":62515,"subscriptionType":"contact.propertyChange"}]`, timestamp: true},
		{event: "shopify", scheme: "shopify", secret: "shpss_0123456789abcdef", method: "POST", path: "/webhooks/shopify",
			body: `{"id":820982911946154508,"email":"jon@example.com","total_price":"403.00"}`},
		{event: "twilio", scheme: "twilio", secret: "12345678901234567890123456789012", method: "POST", path: "/webhooks/twilio?tenant=acme",
			body: form.Encode(), params: twilioParams},
		{event: "standard-webhooks", scheme: "standardwebhooks", secret: randomWhsec(t), method: "POST", path: "/webhooks/std",
			body: `{"id":"evt_1","type":"contact.created","data":{"email":"a@b.test"}}`, timestamp: true},
	}
}

func (v vendor) job(ts time.Time, check bool, secrets ...string) signJob {
	if len(secrets) == 0 {
		secrets = []string{v.secret}
	}
	return signJob{Scheme: v.scheme, Secrets: secrets, Body: v.body, URL: publicURL + v.path, Method: v.method,
		Timestamp: ts.Unix(), ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", Params: v.params, Check: check}
}

func (v vendor) sent(h map[string]string) sent {
	if v.params != nil {
		h["Content-Type"] = "application/x-www-form-urlencoded"
	}
	return sent{method: v.method, path: v.path, body: v.body, headers: h}
}

func wantErr(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: got %v, want %v", what, err, kind)
	}
}

// TestVendorsSign: for each vendor, a request its own code signed is
// accepted by the signature block an author writes for it, and refused
// once a byte of the body changes, with another secret, without the
// header, and (where the scheme signs a timestamp) when signed too long
// ago or too far ahead.
func TestVendorsSign(t *testing.T) {
	ctx := context.Background()
	sigs := checks(t)
	now := time.Now()
	vs := vendors(t)
	var jobs []signJob
	for _, v := range vs {
		jobs = append(jobs, v.job(now, true), v.job(now.Add(-6*time.Minute), false), v.job(now.Add(6*time.Minute), false))
	}
	headers := vendorSign(t, jobs)
	for i, v := range vs {
		t.Run(v.event, func(t *testing.T) {
			sig := sigs[v.event]
			fresh, stale, future := v.sent(headers[3*i]), v.sent(headers[3*i+1]), v.sent(headers[3*i+2])
			if err := verify.Verify(ctx, sig, fresh.request(), secretVars(v.secret), now); err != nil {
				t.Fatalf("signed by the vendor's code, refused: %v", err)
			}
			err := verify.Verify(ctx, sig, fresh.tampered().request(), secretVars(v.secret), now)
			wantErr(t, "one byte of the body changed", err, verify.ErrBadSignature)
			other := v.secret + "x"
			if strings.HasPrefix(v.secret, "whsec_") {
				other = randomWhsec(t)
			}
			err = verify.Verify(ctx, sig, fresh.request(), secretVars(other), now)
			wantErr(t, "another secret", err, verify.ErrBadSignature)
			err = verify.Verify(ctx, sig, fresh.without(sig.Src.Header).request(), secretVars(v.secret), now)
			wantErr(t, "no signature header", err, verify.ErrMissingSignature)
			if err != nil && strings.Contains(err.Error(), v.secret) {
				t.Errorf("the error holds the secret: %v", err)
			}
			if !v.timestamp {
				// Without a signed timestamp a replay is the app's
				// concern: the same request is accepted later too.
				if err := verify.Verify(ctx, sig, fresh.request(), secretVars(v.secret), now.Add(24*time.Hour)); err != nil {
					t.Errorf("no timestamp in the scheme, yet refused a day later: %v", err)
				}
				return
			}
			err = verify.Verify(ctx, sig, stale.request(), secretVars(v.secret), now)
			wantErr(t, "signed 6 minutes ago", err, verify.ErrStaleTimestamp)
			err = verify.Verify(ctx, sig, future.request(), secretVars(v.secret), now)
			wantErr(t, "signed 6 minutes ahead", err, verify.ErrFutureTimestamp)
			err = verify.Verify(ctx, sig, fresh.request(), secretVars(v.secret), now.Add(5*time.Minute+time.Second))
			wantErr(t, "the fresh request replayed 5m01s later", err, verify.ErrStaleTimestamp)
			if err := verify.Verify(ctx, sig, fresh.request(), secretVars(v.secret), now.Add(4*time.Minute)); err != nil {
				t.Errorf("4 minutes later, within the tolerance, refused: %v", err)
			}
		})
	}
}

// TestStandardWebhooksRotation: during a secret rotation the sender signs
// with both secrets (two v1 signatures in one header, by the standardwebhooks
// package); a receiver holding either secret accepts.
func TestStandardWebhooksRotation(t *testing.T) {
	ctx := context.Background()
	sig := checks(t)["standard-webhooks"]
	now := time.Now()
	var std vendor
	for _, v := range vendors(t) {
		if v.event == "standard-webhooks" {
			std = v
		}
	}
	oldSecret, newSecret := randomWhsec(t), randomWhsec(t)
	h := vendorSign(t, []signJob{std.job(now, true, oldSecret, newSecret)})[0]
	if n := len(strings.Fields(h["webhook-signature"])); n != 2 {
		t.Fatalf("webhook-signature %q holds %d signatures, want 2", h["webhook-signature"], n)
	}
	req := std.sent(h)
	for _, secret := range []string{oldSecret, newSecret} {
		if err := verify.Verify(ctx, sig, req.request(), secretVars(secret), now); err != nil {
			t.Errorf("signed with both secrets, refused with one of them: %v", err)
		}
	}
	err := verify.Verify(ctx, sig, req.request(), secretVars(randomWhsec(t)), now)
	wantErr(t, "a third secret", err, verify.ErrBadSignature)
	// An asymmetric (v1a) signature is another scheme: skipped, not an error.
	h["webhook-signature"] = "v1a,bm90IGEgc2lnbmF0dXJl " + h["webhook-signature"]
	if err := verify.Verify(ctx, sig, std.sent(h).request(), secretVars(newSecret), now); err != nil {
		t.Errorf("a v1a signature before the v1 ones, refused: %v", err)
	}
}

// stripeHeader signs payload at ts with each secret using stripe-go's own
// test signer and joins the signatures into one Stripe-Signature header,
// as Stripe does while an endpoint's secret is rolled.
func stripeHeader(t *testing.T, payload []byte, ts time.Time, secrets ...string) string {
	t.Helper()
	var parts []string
	for i, s := range secrets {
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: s, Timestamp: ts})
		fields := strings.Split(sp.Header, ",")
		if i == 0 {
			parts = append(parts, fields...)
		} else {
			parts = append(parts, fields[1:]...)
		}
	}
	h := strings.Join(parts, ",")
	for _, s := range secrets {
		// Stripe's own verifier accepts the header with each secret.
		if err := webhook.ValidatePayloadIgnoringTolerance(payload, h, s); err != nil {
			t.Fatalf("stripe-go refuses its own header %q: %v", h, err)
		}
	}
	return h
}

// TestStripe: Stripe-Signature made by stripe-go's GenerateTestSignedPayload
// is accepted; a changed body, another secret, a stale or future timestamp
// are refused; while a secret rolls (two v1 signatures) either secret
// accepts.
func TestStripe(t *testing.T) {
	ctx := context.Background()
	sig := checks(t)["stripe"]
	now := time.Now()
	secret := "whsec_test_secret_0123456789"
	payload := []byte(`{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"customer.created","data":{"object":{"id":"cus_1"}}}`)
	send := func(h string) sent {
		return sent{method: "POST", path: "/webhooks/stripe", body: string(payload), headers: map[string]string{"Stripe-Signature": h}}
	}
	fresh := send(stripeHeader(t, payload, now, secret))
	if err := verify.Verify(ctx, sig, fresh.request(), secretVars(secret), now); err != nil {
		t.Fatalf("signed by stripe-go, refused: %v", err)
	}
	wantErr(t, "one byte changed", verify.Verify(ctx, sig, fresh.tampered().request(), secretVars(secret), now), verify.ErrBadSignature)
	wantErr(t, "another secret", verify.Verify(ctx, sig, fresh.request(), secretVars("whsec_other"), now), verify.ErrBadSignature)
	wantErr(t, "no header", verify.Verify(ctx, sig, fresh.without("Stripe-Signature").request(), secretVars(secret), now), verify.ErrMissingSignature)
	stale := send(stripeHeader(t, payload, now.Add(-6*time.Minute), secret))
	wantErr(t, "signed 6 minutes ago", verify.Verify(ctx, sig, stale.request(), secretVars(secret), now), verify.ErrStaleTimestamp)
	future := send(stripeHeader(t, payload, now.Add(6*time.Minute), secret))
	wantErr(t, "signed 6 minutes ahead", verify.Verify(ctx, sig, future.request(), secretVars(secret), now), verify.ErrFutureTimestamp)
	// A t= changed to now with the old v1: the timestamp is signed too.
	h := stripeHeader(t, payload, now.Add(-6*time.Minute), secret)
	forged := send("t=" + strconv.FormatInt(now.Unix(), 10) + h[strings.Index(h, ","):])
	wantErr(t, "a stale signature with a fresh t=", verify.Verify(ctx, sig, forged.request(), secretVars(secret), now), verify.ErrBadSignature)

	// No t= at all: nothing to check the signature against.
	noT := send(h[strings.Index(h, ",")+1:])
	wantErr(t, "no t=", verify.Verify(ctx, sig, noT.request(), secretVars(secret), now), verify.ErrMalformed)

	oldSecret, newSecret := "whsec_old_0123456789", "whsec_new_9876543210"
	rolled := send(stripeHeader(t, payload, now, oldSecret, newSecret))
	if n := strings.Count(rolled.headers["Stripe-Signature"], "v1="); n != 2 {
		t.Fatalf("Stripe-Signature %q holds %d v1 signatures, want 2", rolled.headers["Stripe-Signature"], n)
	}
	for _, s := range []string{oldSecret, newSecret} {
		if err := verify.Verify(ctx, sig, rolled.request(), secretVars(s), now); err != nil {
			t.Errorf("rolled secret: signed with both, refused with one: %v", err)
		}
	}
	wantErr(t, "a third secret", verify.Verify(ctx, sig, rolled.request(), secretVars(secret), now), verify.ErrBadSignature)
}

// TestDocsShowTheTestedBlocks: docs/webhook-signatures.md shows each
// vendor's block as the tests run it, line for line.
func TestDocsShowTheTestedBlocks(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/webhook-signatures.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/workspace/*.yaml")
	if err != nil || len(files) != 8 {
		t.Fatalf("testdata/workspace: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		start := strings.Index(text, "\n  signature:\n")
		if start < 0 {
			continue // the connector
		}
		end := strings.Index(text, "\n  records:")
		var block []string
		for _, l := range strings.Split(text[start+1:end], "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "#") {
				block = append(block, l)
			}
		}
		if want := strings.Join(block, "\n") + "\n```"; !strings.Contains(string(doc), want) {
			t.Errorf("docs/webhook-signatures.md does not show the block of %s:\n%s", f, want)
		}
	}
}
