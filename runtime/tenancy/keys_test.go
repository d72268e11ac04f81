package tenancy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenPublicKeyFormats(t *testing.T) {
	testKeys(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	bundle := append(append([]byte("# signing keys\n"), pkcs1...), cert...)
	v := newTestVerifier(t, Keys{PublicKeysPEM: bundle})
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, goodClaims(), rsaKey)); err != nil {
		t.Errorf("PKCS #1 key: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodES256, goodClaims(), ecKey)); err != nil {
		t.Errorf("certificate: %v", err)
	}
}

func TestTokenPublicKeyRefused(t *testing.T) {
	testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		pem  []byte
		want string
	}{
		"private key": {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), "private key"},
		"RSA 1024":    {pemPublic(t, &small.PublicKey), "2048"},
		"P-384":       {pemPublic(t, &p384.PublicKey), "P-256"},
		"garbage DER": {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("nope")}), "public key 1"},
		"other block": {pem.EncodeToMemory(&pem.Block{Type: "SOMETHING", Bytes: []byte("x")}), "not a public key"},
	} {
		_, err := NewVerifier("w", Keys{PublicKeysPEM: tc.pem})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, tc.want)
		}
	}
}
