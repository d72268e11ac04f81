package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// A state is base64url(payload) "." base64url(HMAC-SHA256(secret, label +
// payload)). The payload binds a random nonce to a tenant, a connector and
// an expiry; the nonce keys the pending authorization in the StateStore,
// which makes the state single-use and keeps the PKCE verifier off the
// browser's URL.
const stateLabel = "membrane oauth state v1\n"

var b64 = base64.RawURLEncoding

type statePayload struct {
	Nonce     string `json:"n"`
	Tenant    string `json:"t"`
	Connector string `json:"c"`
	Expires   int64  `json:"e"` // unix seconds
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b64.EncodeToString(b)
}

func (m *Manager) mac(payload string) []byte {
	h := hmac.New(sha256.New, m.secret)
	h.Write([]byte(stateLabel))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

func (m *Manager) signState(p statePayload) string {
	raw, _ := json.Marshal(p)
	enc := b64.EncodeToString(raw)
	return enc + "." + b64.EncodeToString(m.mac(enc))
}

// openState checks a state's signature and expiry and returns its payload.
func (m *Manager) openState(state string) (*statePayload, error) {
	enc, sig, ok := strings.Cut(state, ".")
	if !ok || len(state) > 2048 {
		return nil, stateError("malformed")
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, m.mac(enc)) {
		return nil, stateError("bad signature")
	}
	raw, err := b64.DecodeString(enc)
	if err != nil {
		return nil, stateError("malformed")
	}
	var p statePayload
	if err := json.Unmarshal(raw, &p); err != nil || p.Nonce == "" {
		return nil, stateError("malformed")
	}
	if !m.now().Before(time.Unix(p.Expires, 0)) {
		return nil, stateError("expired")
	}
	return &p, nil
}
