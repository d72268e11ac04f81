package conntest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
)

// WebhookPublicURL is the public URL a webhook case's request arrives at:
// a scheme that signs the URL (HubSpot v3, Twilio) signs this one and the
// case's path and query.
const WebhookPublicURL = "https://membrane.test"

// incomingRequest builds the request a webhook case sends.
func incomingRequest(in *spec.TestIncoming) (*verify.Request, error) {
	method, path := "POST", "/webhooks/test"
	if in.Method != "" {
		method = in.Method
	}
	if in.Path != "" {
		path = in.Path
	}
	var body []byte
	if in.Body != nil {
		if text, ok := in.Body.Interface().(string); ok {
			body = []byte(text)
		} else {
			b, err := json.Marshal(plain(in.Body.Interface()))
			if err != nil {
				return nil, err
			}
			body = b
		}
	}
	q := url.Values{}
	for _, k := range sortedKeys(in.Query) {
		q.Set(k, scalarText(in.Query[k]))
	}
	target := WebhookPublicURL + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for _, k := range sortedKeys(in.Headers) {
		r.Header.Set(k, scalarText(in.Headers[k]))
	}
	if r.Header.Get("Content-Type") == "" && len(body) > 0 {
		r.Header.Set("Content-Type", "application/json")
	}
	return verify.NewRequest(r, body, WebhookPublicURL), nil
}

// runWebhookCase checks an incoming webhook request with the event's
// signature check (the case's secret, else what `signature.secret`
// computes from the case's subscription and connection).
func (r *Runner) runWebhookCase(ctx context.Context, c Case, ev *layers.Event, conn engine.Connection, now time.Time) ([]string, time.Duration) {
	w := c.Spec().Webhook
	req, err := incomingRequest(w.Request)
	if err != nil {
		return []string{"webhook: cannot build the request: " + err.Error()}, 0
	}
	sig := ev.Compiled.Signature
	if sig != nil {
		if w.Secret != "" {
			err = verify.VerifySecret(ctx, sig, req, w.Secret, now)
		} else {
			err = verify.Verify(ctx, sig, req, secretVars(w, conn), now)
		}
	}
	wantVerified := w.Verified == nil || *w.Verified
	var lines []string
	switch {
	case sig == nil && !wantVerified:
		return []string{fmt.Sprintf("webhook: want refused, but event %q checks no signature (it has no webhook.signature)", ev.Event.Key)}, 0
	case err != nil && wantVerified:
		return []string{"webhook: want verified, got refused: " + err.Error()}, 0
	case err == nil && !wantVerified:
		return []string{"webhook: want refused, got verified"}, 0
	case err != nil:
		if w.Response != nil && w.Response.Status != 0 && w.Response.Status != refusalStatus(err) {
			lines = append(lines, fmt.Sprintf("webhook response status: want %d, got %d (%v)", w.Response.Status, refusalStatus(err), err))
		}
		if len(w.Changes) > 0 {
			lines = append(lines, "webhook: the case wants changes from a request that must be refused; a refused request gives none")
		}
		return lines, 0
	}
	return append(lines, r.webhookChanges(ctx, c, ev, conn, req, now)...), 0
}

// refusalStatus is the status a refused request gets: 400 when it cannot
// be checked, 401 otherwise.
func refusalStatus(err error) int {
	if isKind(err, verify.ErrMalformed) {
		return http.StatusBadRequest
	}
	return http.StatusUnauthorized
}

// secretVars are the variables `signature.secret` sees in a case.
func secretVars(w *spec.TestWebhook, conn engine.Connection) map[string]any {
	sub := map[string]any{}
	if w.Subscription != nil {
		sub = objectOf(w.Subscription)
	}
	return map[string]any{
		compile.VarSubscription: sub,
		compile.VarCredentials:  conn.Credentials,
		compile.VarConnection:   map[string]any{"id": conn.ID, "name": conn.Name, "parameters": conn.Parameters, "info": map[string]any{}},
		compile.VarTenant:       map[string]any{"key": conn.Tenant},
	}
}

func isKind(err, kind error) bool { return errors.Is(err, kind) }

// webhookChanges compares the changes a verified request gives with the
// case's.
func (r *Runner) webhookChanges(_ context.Context, c Case, _ *layers.Event, _ engine.Connection, _ *verify.Request, _ time.Time) []string {
	if len(c.Spec().Webhook.Changes) > 0 {
		return []string{"webhook: this build checks webhook signatures only; the changes a payload gives cannot be compared yet"}
	}
	return nil
}
