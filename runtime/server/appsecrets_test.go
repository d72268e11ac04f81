package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
	"github.com/membrane-dev/membrane/runtime/server"
)

// An app-wide event of crm, signed with the app's signing secret as Slack
// signs, with Slack's url_verification handshake (which names no team).
const appEventYAML = `kind: Event
connector: crm
key: message-posted
webhook:
  signature:
    header: X-Slack-Signature
    prefix: v0=
    timestamp: ${ request.headers["x-slack-request-timestamp"] }
    payload: ${ "v0:" + request.headers["x-slack-request-timestamp"] + ":" + request.rawBody }
    secret: ${ app.signingSecret }
  handshake:
    when: ${ request.body.?type.orValue("") == "url_verification" }
    body: {challenge: "${ request.body.challenge }"}
  connectionKey: ${ request.body.team_id }
  match: ${ connection.info.?teamId.orValue("") }
  records: ${ [request.body.event] }
  id: ${ record.ts }
record:
  id: ${ record.ts }
`

const appSecretsYAML = `kind: Workspace
key: servertest
webhookSecrets:
  crm: {signingSecret: CRM_SIGNING_SECRET}
`

func appSecretsWorkspace(t *testing.T) string {
	up := newUpstream(t)
	return testkit.Workspace(t, map[string]string{
		"connectors/crm/connector.yaml":             connectorYAML,
		"connectors/crm/events/message-posted.yaml": appEventYAML,
		"membrane.yaml":                             appSecretsYAML,
	}, map[string]string{"{{API}}": up.srv.URL})
}

// A variable webhookSecrets names that is not set stops the server at
// start, naming the variable and where the file names it.
func TestWebhookSecretMustBeSet(t *testing.T) {
	t.Parallel()
	dir := appSecretsWorkspace(t)
	for name, value := range map[string]string{"unset": "", "blank": "  \n"} {
		vars := map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret}
		if value != "" {
			vars["CRM_SIGNING_SECRET"] = value
		}
		s, err := server.New(context.Background(), server.Config{Dir: dir, LookupEnv: env(vars)}, nil)
		if err == nil {
			s.Close()
			t.Errorf("%s: the server started", name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "membrane.yaml: webhookSecrets.crm.signingSecret names CRM_SIGNING_SECRET, which is not set") {
			t.Errorf("%s: %v; want it to name the variable and where membrane.yaml names it", name, err)
		}
	}
}

// The server checks a connector-wide webhook with the app's secret from
// the variable membrane.yaml names: Slack's url_verification, which comes
// before any connection exists, is answered when signed with it and
// refused otherwise, and no answer shows the secret.
func TestAppWideHandshakeIsSignedWithTheAppSecret(t *testing.T) {
	t.Parallel()
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	r := start(t, server.Config{Dir: appSecretsWorkspace(t),
		LookupEnv: env(map[string]string{"MEMBRANE_WORKSPACE_SECRET": testSecret, "CRM_SIGNING_SECRET": secret + "\n"})})
	body := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	send := func(secret string) (int, string) {
		req, _ := http.NewRequest("POST", r.URL+"/webhooks/crm", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		m := hmac.New(sha256.New, []byte(secret))
		io.WriteString(m, "v0:"+ts+":"+body)
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
		resp, err := r.srvClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, got := send(secret); code != 200 || got != `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}` {
		t.Errorf("signed with the app's secret: %d %s; want 200 and the challenge", code, got)
	}
	code, got := send("another app's secret")
	if code != http.StatusUnauthorized {
		t.Errorf("signed with another secret: %d %s; want 401", code, got)
	}
	if strings.Contains(got, secret) {
		t.Errorf("the refusal shows the secret: %s", got)
	}
}
