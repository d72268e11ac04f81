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
	"strings"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
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

// runWebhookCase runs a webhook case as the server's ingress and inbox
// worker do: the signature check (with the case's secret, else what
// `signature.secret` computes from the case's subscription, app secrets
// and connection), the handshake, the changes of the payload (enriched through
// the case's canned responses) and the reply.
func (r *Runner) runWebhookCase(ctx context.Context, c Case, ev *layers.Event, conn engine.Connection, now time.Time) ([]string, time.Duration) {
	w := c.Spec().Webhook
	req, err := incomingRequest(w.Request)
	if err != nil {
		return []string{"webhook: cannot build the request: " + err.Error()}, 0
	}
	target, err := webhookTarget(c, ev, conn, w)
	if err != nil {
		return []string{"webhook: " + err.Error()}, 0
	}
	x := newExchanges(w.Requests, w.Responses)
	dial, release := r.up.register(x)
	defer release()
	clock := &virtualClock{t: now}
	client := httpx.New(httpx.Config{Dial: dial, Sleep: clock.sleep, Now: clock.now, MaxIdleConnDuration: time.Second})
	defer client.CloseIdleConnections()
	_, overrides := r.connection(c)
	wh := &events.Webhooks{
		Conns: &caseActions{r: r, connector: c.Test.Connector, overrides: overrides, conn: conn,
			eng: engine.New(engine.Options{HTTP: client, Now: func() time.Time { return now }})},
		Now: func() time.Time { return now },
		AppSecrets: func(string) map[string]string {
			if w.App != nil {
				return w.App
			}
			return c.Test.App
		},
	}

	sig := ev.Compiled.Signature
	if sig != nil && w.Secret != "" {
		err = verify.VerifySecret(ctx, sig, req, w.Secret, now)
	} else {
		err = wh.Verify(ctx, target, req)
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
		if w.Response != nil && w.Response.Status != 0 && w.Response.Status != http.StatusUnauthorized {
			lines = append(lines, fmt.Sprintf("webhook response status: want %d, got %d (%v)", w.Response.Status, http.StatusUnauthorized, err))
		}
		if len(w.Changes) > 0 {
			lines = append(lines, "webhook: the case wants changes from a request that must be refused; a refused request gives none")
		}
		return lines, 0
	}

	if ok, status, ct, body, herr := events.Handshake(ctx, target.Event, req); ok {
		if herr != nil {
			return []string{"webhook: the handshake's answer failed: " + herr.Error()}, 0
		}
		lines = append(lines, compareReply(w.Response, status, ct, body)...)
		if len(w.Changes) > 0 {
			lines = append(lines, fmt.Sprintf("webhook: the request is a handshake (it is answered, never stored), but the case wants %s", count(len(w.Changes), "change")))
		}
		return lines, clock.skipped()
	}
	changes, skipped, cerr := wh.Changes(ctx, target, req)
	ex, unexpected := x.report("the enrichment")
	lines = append(lines, ex...)
	if unexpected {
		return lines, clock.skipped()
	}
	if cerr != nil {
		lines = append(lines, "webhook: the payload gave no changes: "+cerr.Error())
	}
	got, err := events.SourceOf(target).OutboxEvents(changes, now)
	if err != nil {
		return append(lines, "webhook: "+err.Error()), clock.skipped()
	}
	payloads := make([]events.Payload, 0, len(got))
	seen := map[string]bool{}
	for _, e := range got {
		// The outbox keeps one entry per id, as the store does: two
		// records of a payload that are one change are delivered once.
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		var p events.Payload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return append(lines, "webhook: an outbox payload is not JSON: "+err.Error()), clock.skipped()
		}
		payloads = append(payloads, p)
	}
	cl := compareChanges(w.Changes, payloads)
	lines = append(lines, cl...)
	if len(cl) > 0 {
		for _, s := range skipped {
			lines = append(lines, "  skipped "+s.Error())
		}
	}
	if w.Response != nil {
		status, ct, body, rerr := events.Reply(ctx, target.Event, req)
		if rerr != nil {
			lines = append(lines, "webhook: the reply failed: "+rerr.Error())
		} else {
			lines = append(lines, compareReply(w.Response, status, ct, body)...)
		}
	}
	return lines, clock.skipped()
}

// webhookTarget is the subscription, event and connection a webhook
// case's request is for.
func webhookTarget(c Case, ev *layers.Event, conn engine.Connection, w *spec.TestWebhook) (*events.Target, error) {
	re := &events.ResolvedEvent{Layers: ev, Spec: ev.Event, Compiled: ev.Compiled}
	if ev.Record != nil {
		var d diag.List
		re.RecordSchema = (&spec.Schema{Value: ev.Record}).Compile(&d)
		if err := d.Err(); err != nil {
			return nil, fmt.Errorf("the record schema of event %q does not compile: %w", ev.Event.Key, err)
		}
	}
	var remote map[string]any
	if w.Subscription != nil {
		remote = objectOf(w.Subscription)
	}
	return &events.Target{
		Sub: &store.Subscription{ID: "sub_test", Tenant: conn.Tenant, ConnectionID: conn.ID, Connector: c.Test.Connector,
			Event: c.Action(), Status: store.SubscriptionActive, Remote: remote},
		Event: re,
		Conn: &store.Connection{ID: conn.ID, Tenant: conn.Tenant, Connector: c.Test.Connector, Name: conn.Name,
			State: store.Connected, Parameters: conn.Parameters, Credentials: conn.Credentials},
	}, nil
}

// compareReply compares the answer the app gets with the case's.
func compareReply(want *spec.TestResponse, status int, contentType string, body []byte) []string {
	if want == nil {
		return nil
	}
	var lines []string
	if want.Status != 0 && want.Status != status {
		lines = append(lines, fmt.Sprintf("webhook response status: want %d, got %d", want.Status, status))
	}
	if want.Body != nil {
		var got any = string(body)
		if strings.Contains(contentType, "json") {
			if err := json.Unmarshal(body, &got); err != nil {
				return append(lines, "webhook response body: not JSON: "+err.Error())
			}
		}
		d := &differ{what: "webhook response body"}
		d.compare("", plain(want.Body.Interface()), plain(got))
		lines = append(lines, d.lines...)
	}
	return lines
}

// caseActions runs the enrichment actions of a webhook case against the
// case's canned responses; a case has no other connection to resolve.
type caseActions struct {
	r         *Runner
	connector string
	overrides []*spec.ConnectionOverride
	conn      engine.Connection
	eng       *engine.Engine
}

func (a *caseActions) RunAction(ctx context.Context, _, _, action string, input any) (any, error) {
	plan, err := a.r.rt.Plan(a.connector, action, a.overrides...)
	if err != nil {
		return nil, err
	}
	conn := a.conn
	res, err := a.eng.Run(ctx, plan, &conn, input, engine.RunOptions{})
	if err != nil {
		return nil, err
	}
	return res.Output, nil
}

func (a *caseActions) ResolveEvent(context.Context, string, string, string) (*events.ResolvedEvent, *store.Connection, error) {
	return nil, nil, errors.New("a webhook case resolves no other event")
}

func (a *caseActions) ConnectorEvents(string) []*events.ResolvedEvent { return nil }

func (a *caseActions) SendEventRequest(context.Context, string, string, string, string, map[string]any) (map[string]any, error) {
	return nil, errors.New("a webhook case sends no subscribe, renew or unsubscribe request")
}
