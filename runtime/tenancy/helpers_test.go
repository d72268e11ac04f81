package tenancy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testWorkspace = "acme-workspace"

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// Keys are generated once: RSA generation is slow enough to matter when
// every test does it.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func pemPublic(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func newTestVerifier(t testing.TB, keys Keys, opts ...VerifierOption) *Verifier {
	t.Helper()
	v, err := NewVerifier(testWorkspace, keys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// goodClaims are valid claims for testWorkspace, for tests to spoil.
func goodClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":     testWorkspace,
		"sub":     "acme",
		"iat":     now.Unix(),
		"exp":     now.Add(time.Hour).Unix(),
		"isAdmin": false,
		"name":    "Acme Inc.",
	}
}

// sign makes a token with any method and key, including the wrong ones.
func sign(t testing.TB, m jwt.SigningMethod, claims jwt.MapClaims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hs256(t testing.TB, claims jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodHS256, claims, testSecret)
}
