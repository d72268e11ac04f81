package events_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/events/verify"
	"github.com/membrane-dev/membrane/runtime/store"
)

// An app-wide event signed with the app's signing secret, Slack's way.
const appSignedYAML = `kind: Event
connector: chat
key: message-posted
webhook:
  signature:
    header: X-Slack-Signature
    prefix: v0=
    timestamp: ${ request.headers["x-slack-request-timestamp"] }
    payload: ${ "v0:" + request.headers["x-slack-request-timestamp"] + ":" + request.rawBody }
    secret: ${ app.signingSecret }
  connectionKey: ${ request.body.team_id }
  match: ${ connection.info.teamId }
  records: ${ [request.body.event] }
  id: ${ record.ts }
record:
  id: ${ record.ts }
`

// appTarget resolves the event above for a connection of the connector.
func appTarget(t *testing.T) *events.Target {
	t.Helper()
	dir := testkit.Workspace(t, map[string]string{
		"connectors/chat/connector.yaml":             "kind: Connector\nkey: chat\nbaseUrl: https://chat.example.com\nauth: {type: bearer}\n",
		"connectors/chat/events/message-posted.yaml": appSignedYAML,
	}, nil)
	ws, diags := layers.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ev, diags := layers.ResolveEvent(ws, "chat", "message-posted")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return &events.Target{
		Sub:   &store.Subscription{ID: "sub_1", Connector: "chat", Event: "message-posted"},
		Event: &events.ResolvedEvent{Layers: ev, Spec: ev.Event, Compiled: ev.Compiled},
		// Another connector's connection: `app` is the event's connector's.
		Conn: &store.Connection{ID: "conn_1", Tenant: "acme", Connector: "other", Credentials: map[string]any{"token": "xoxb-1"}},
	}
}

func slackRequest(secret, body string, ts time.Time) *verify.Request {
	r := httptest.NewRequest("POST", "https://membrane.test/webhooks/chat", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + stamp + ":" + body))
	r.Header.Set("X-Slack-Request-Timestamp", stamp)
	r.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return verify.NewRequest(r, []byte(body), "https://membrane.test")
}

// The signature's secret reads the app's secret of the event's connector,
// as the workspace gives it; without it every push is refused, with an
// error that says where to name it and never holds a secret.
func TestVerifyReadsTheAppSecret(t *testing.T) {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	now := time.Unix(1704067200, 0)
	target := appTarget(t)
	body := `{"team_id":"T1","event":{"type":"message","ts":"1.2"}}`
	secrets := map[string]map[string]string{"chat": {"signingSecret": secret}}
	asked := []string{}
	wh := &events.Webhooks{Now: func() time.Time { return now }, AppSecrets: func(c string) map[string]string {
		asked = append(asked, c)
		return secrets[c]
	}}

	if err := wh.Verify(t.Context(), target, slackRequest(secret, body, now)); err != nil {
		t.Fatalf("signed with the app's secret: %v", err)
	}
	if len(asked) != 1 || asked[0] != "chat" {
		t.Errorf("app secrets asked for %v; want the event's connector, chat", asked)
	}
	err := wh.Verify(t.Context(), target, slackRequest("another app's secret", body, now))
	if !errors.Is(err, verify.ErrBadSignature) {
		t.Errorf("signed with another secret: %v; want a bad signature", err)
	}
	err = wh.Verify(t.Context(), target, slackRequest(secret, body, now.Add(-6*time.Minute)))
	if !errors.Is(err, verify.ErrStaleTimestamp) {
		t.Errorf("signed 6 minutes ago: %v; want a stale timestamp", err)
	}

	for name, w := range map[string]*events.Webhooks{
		"no app secrets":      {Now: wh.Now},
		"another connector's": {Now: wh.Now, AppSecrets: func(string) map[string]string { return map[string]string{"clientSecret": secret} }},
	} {
		err := w.Verify(t.Context(), target, slackRequest(secret, body, now))
		if !errors.Is(err, verify.ErrNoSecret) {
			t.Errorf("%s: %v; want no signing secret", name, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "webhookSecrets") || !strings.Contains(msg, "message-posted.yaml:") || strings.Contains(msg, secret) {
			t.Errorf("%s: %q; want where the expression is and membrane.yaml's webhookSecrets named, no secret", name, msg)
		}
	}
}
