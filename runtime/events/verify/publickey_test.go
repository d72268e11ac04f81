package verify_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/events/verify"
)

// sendGridSig is SendGrid's Event Webhook check: ECDSA P-256 over the
// timestamp header followed by the raw body, base64 DER in the header.
const sendGridSig = `
algorithm: ecdsa-p256-sha256
header: X-Twilio-Email-Event-Webhook-Signature
encoding: base64
timestamp: ${ request.headers["x-twilio-email-event-webhook-timestamp"] }
payload: ${ request.headers["x-twilio-email-event-webhook-timestamp"] + request.rawBody }
publicKey: ${ subscription.publicKey }
`

func newP256(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, base64.StdEncoding.EncodeToString(der)
}

func signP256(t testing.TB, k *ecdsa.PrivateKey, payload string) string {
	t.Helper()
	d := sha256.Sum256([]byte(payload))
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func sendGridPush(ts, sig, body string) map[string]string {
	return map[string]string{
		"Content-Type":                           "application/json",
		"X-Twilio-Email-Event-Webhook-Timestamp": ts,
		"X-Twilio-Email-Event-Webhook-Signature": sig,
	}
}

func TestECDSA(t *testing.T) {
	ctx := t.Context()
	sig := compileSig(t, sendGridSig)
	key, pub := newP256(t)
	_, otherPub := newP256(t)
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := `[{"email":"a@example.com","event":"delivered","sg_event_id":"e1","sg_message_id":"m1","timestamp":1700000000}]`
	good := signP256(t, key, ts+body)
	vars := func(pub string) map[string]any {
		return map[string]any{"subscription": map[string]any{"publicKey": pub}}
	}

	if err := verify.Verify(ctx, sig, send(sig, sendGridPush(ts, good, body), body), vars(pub), now); err != nil {
		t.Fatalf("a push SendGrid signed: %v", err)
	}
	// The same key as PEM and as the bare point; the signature as r‖s.
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustB64(t, pub)}))
	raw, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	point := base64.StdEncoding.EncodeToString(raw)
	for name, k := range map[string]string{"PEM": pemKey, "point": point} {
		if err := verify.Verify(ctx, sig, send(sig, sendGridPush(ts, good, body), body), vars(k), now); err != nil {
			t.Errorf("key as %s: %v", name, err)
		}
	}
	d := sha256.Sum256([]byte(ts + body))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	rs := base64.StdEncoding.EncodeToString(append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...))
	if err := verify.Verify(ctx, sig, send(sig, sendGridPush(ts, rs, body), body), vars(pub), now); err != nil {
		t.Errorf("signature as r‖s: %v", err)
	}

	refused := []struct {
		name       string
		ts, sig    string
		body, key  string
		kind       error
		detailHas  string
		notInError []string
	}{
		{name: "tampered body", ts: ts, sig: good, body: strings.Replace(body, "delivered", "bounce", 1), key: pub, kind: verify.ErrBadSignature, detailHas: "public key"},
		{name: "another timestamp", ts: strconv.FormatInt(now.Unix()-1, 10), sig: good, body: body, key: pub, kind: verify.ErrBadSignature},
		{name: "wrong key", ts: ts, sig: good, body: body, key: otherPub, kind: verify.ErrBadSignature},
		{name: "not base64", ts: ts, sig: "%%%", body: body, key: pub, kind: verify.ErrBadSignature, detailHas: "no base64 signature"},
		{name: "not DER", ts: ts, sig: base64.StdEncoding.EncodeToString([]byte("not a signature")), body: body, key: pub, kind: verify.ErrBadSignature},
		{name: "malformed key", ts: ts, sig: good, body: body, key: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", kind: verify.ErrNoKey, detailHas: "event.yaml:13:16)", notInError: []string{"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}},
		{name: "no key", ts: ts, sig: good, body: body, key: "", kind: verify.ErrNoKey, detailHas: "empty"},
		{name: "no signature", ts: ts, sig: "", body: body, key: pub, kind: verify.ErrMissingSignature},
	}
	for _, c := range refused {
		err := verify.Verify(ctx, sig, send(sig, sendGridPush(c.ts, c.sig, c.body), c.body), vars(c.key), now)
		var ve *verify.Error
		if !errors.Is(err, c.kind) || !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.kind)
			continue
		}
		if !strings.Contains(ve.Detail, c.detailHas) {
			t.Errorf("%s: %q does not say %q", c.name, err, c.detailHas)
		}
		for _, s := range c.notInError {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q holds %q", c.name, err, s)
			}
		}
	}

	old := now.Add(-10 * time.Minute)
	oldTS := strconv.FormatInt(old.Unix(), 10)
	err = verify.Verify(ctx, sig, send(sig, sendGridPush(oldTS, signP256(t, key, oldTS+body), body), body), vars(pub), now)
	if !errors.Is(err, verify.ErrStaleTimestamp) {
		t.Errorf("a push signed 10m ago: %v, want %v", err, verify.ErrStaleTimestamp)
	}

	// A test gives the key in place of what publicKey computes.
	if err := verify.VerifySecret(ctx, sig, send(sig, sendGridPush(ts, good, body), body), pub, now); err != nil {
		t.Errorf("VerifySecret with the key: %v", err)
	}
	if err := verify.VerifySecret(ctx, sig, send(sig, sendGridPush(ts, good, body), body), otherPub, now); !errors.Is(err, verify.ErrBadSignature) {
		t.Errorf("VerifySecret with another key: %v", err)
	}
}

func TestECDSAKeyOfAnotherKind(t *testing.T) {
	sig := compileSig(t, sendGridSig)
	now := time.Unix(1_700_000_000, 0)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		key  any
		want string
	}{
		"P-384":   {&p384.PublicKey, "ECDSA key on P-384"},
		"Ed25519": {edPub, "Ed25519 key"},
	} {
		der, err := x509.MarshalPKIXPublicKey(c.key)
		if err != nil {
			t.Fatal(err)
		}
		vars := map[string]any{"subscription": map[string]any{"publicKey": base64.StdEncoding.EncodeToString(der)}}
		err = verify.Verify(t.Context(), sig, send(sig, sendGridPush("1700000000", "MEUCIQ==", "[]"), "[]"), vars, now)
		if !errors.Is(err, verify.ErrNoKey) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s key: %v, want %v saying %q", name, err, verify.ErrNoKey, c.want)
		}
	}
}

func TestEd25519(t *testing.T) {
	ctx := t.Context()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := `{"type":1}`
	signed := hex.EncodeToString(ed25519.Sign(priv, []byte(ts+body)))
	headers := map[string]string{"Content-Type": "application/json", "X-Signature-Ed25519": signed, "X-Signature-Timestamp": ts}
	// Discord's interactions: hex of the key's 32 bytes, hex signature
	// of timestamp + body. The key written as text is parsed when the
	// file loads.
	for name, key := range map[string]string{
		"hex":       hex.EncodeToString(pub),
		"PKIX":      base64.StdEncoding.EncodeToString(der),
		"raw bytes": base64.StdEncoding.EncodeToString(pub),
	} {
		sig := compileSig(t, `
algorithm: ed25519
header: X-Signature-Ed25519
timestamp: ${ request.headers["x-signature-timestamp"] }
payload: ${ request.headers["x-signature-timestamp"] + request.rawBody }
publicKey: `+key)
		if sig.Key == nil {
			t.Errorf("key as %s: not parsed when the file loaded", name)
		}
		if err := verify.Verify(ctx, sig, send(sig, headers, body), nil, now); err != nil {
			t.Errorf("key as %s: %v", name, err)
		}
		tampered := `{"type":2}`
		if err := verify.Verify(ctx, sig, send(sig, headers, tampered), nil, now); !errors.Is(err, verify.ErrBadSignature) {
			t.Errorf("key as %s, tampered body: %v", name, err)
		}
	}
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
