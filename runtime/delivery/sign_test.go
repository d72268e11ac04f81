package delivery

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestNewSecretIsStandard(t *testing.T) {
	s := NewSecret()
	if !strings.HasPrefix(s, SecretPrefix) {
		t.Fatalf("secret %q lacks %s", s, SecretPrefix)
	}
	k, err := SecretKey(s)
	if err != nil || len(k) != 32 {
		t.Fatalf("key of a new secret: %d bytes, %v", len(k), err)
	}
	if NewSecret() == s {
		t.Fatal("two new secrets are equal")
	}
}

func TestSignerRefusesBadSecretsWithoutEchoingThem(t *testing.T) {
	bad := "whsec_not base64 at all!!"
	_, err := NewSigner([]string{NewSecret(), bad, "whsec_c2hvcnQ="})
	if err == nil {
		t.Fatal("bad secrets accepted")
	}
	var se *SecretError
	if !errors.As(err, &se) || se.Index != 1 {
		t.Fatalf("error %v: want a SecretError of secret 1", err)
	}
	if strings.Contains(err.Error(), "not base64 at all") || !strings.Contains(err.Error(), "shorter than 24 bytes") {
		t.Fatalf("error %q: want both problems, never the secret", err)
	}
	if _, err := NewSigner(nil); err == nil {
		t.Fatal("no secret accepted")
	}
}

// The vendor's Go library verifies what Signer signs, with each secret of a
// rotation on its own, and refuses it once changed or under another secret.
func TestSignatureVerifiesWithStandardWebhooksGo(t *testing.T) {
	cur, prev := NewSecret(), NewSecret()
	s, err := NewSigner([]string{cur, prev})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"evt_1","type":"contact.created","data":{"name":"Zoë"}}`)
	now := time.Now()
	h := http.Header{}
	for k, v := range s.Headers("evt_1", now, body) {
		h.Set(k, v)
	}
	if n := len(strings.Fields(h.Get(HeaderSignature))); n != 2 {
		t.Fatalf("signature header %q: want 2 signatures", h.Get(HeaderSignature))
	}
	for i, sec := range []string{cur, prev} {
		wh, _ := standardwebhooks.NewWebhook(sec)
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("secret %d: %v", i, err)
		}
		// The vendor's own signature is one of ours.
		vs, _ := wh.Sign("evt_1", now, body)
		if !strings.Contains(h.Get(HeaderSignature), vs) {
			t.Errorf("secret %d: vendor signs %q, we sent %q", i, vs, h.Get(HeaderSignature))
		}
		if err := wh.Verify([]byte(strings.Replace(string(body), "Zoë", "Zoe", 1)), h); err == nil {
			t.Errorf("secret %d: a changed body verifies", i)
		}
	}
	other, _ := standardwebhooks.NewWebhook(NewSecret())
	if err := other.Verify(body, h); err == nil {
		t.Error("another secret verifies")
	}
}

// A signed delivery over HTTP passes each vendor verifier, with one secret
// and with the two of a rotation.
func TestSendSignedToVendorReceivers(t *testing.T) {
	eachVerifier(t, func(t *testing.T, start func(t *testing.T, secrets ...string) *receiver) {
		for _, n := range []int{1, 2} {
			secrets := []string{NewSecret(), NewSecret()}[:n]
			rcv := start(t, secrets...)
			snd := newWebhookSender(&dialGuard{allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, 0)
			signer, err := NewSigner(secrets)
			if err != nil {
				t.Fatal(err)
			}
			body := []byte(`{"id":"evt_x","data":{"ünïcode":"✓"}}`)
			now := time.Now()
			hd := signer.Headers("evt_x", now, body)
			r := snd.send(rcv.URL, 5*time.Second, hd, body, now, redactions(secrets, hd[HeaderSignature]))
			got := <-rcv.Got
			if r.Err != nil || !got.OK || got.Body != string(body) {
				t.Fatalf("%d secrets: sent %v, receiver %+v", n, r.Err, got)
			}
			// Signed under other secrets, the receiver refuses it, and the
			// failure kept names neither the signature nor a secret.
			wrong, _ := NewSigner([]string{NewSecret()})
			hd = wrong.Headers("evt_x", now, body)
			r = snd.send(rcv.URL, 5*time.Second, hd, body, now, redactions(secrets, hd[HeaderSignature]))
			if got := <-rcv.Got; got.OK || r.Status != http.StatusUnauthorized || r.Err == nil {
				t.Fatalf("wrongly signed: sent %d %v, receiver %+v", r.Status, r.Err, got)
			}
		}
	})
}
