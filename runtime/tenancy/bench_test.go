package tenancy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// The verifier runs on every API call. These measure one verification per
// algorithm, in parallel as a server would run them.

func benchVerify(b *testing.B, keys Keys, tok string) {
	v := newTestVerifier(b, keys)
	if _, err := v.Verify(tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyHS256(b *testing.B) {
	benchVerify(b, Keys{HMACSecret: testSecret}, sign(b, jwt.SigningMethodHS256, goodClaims(), testSecret))
}

func BenchmarkVerifyHS512(b *testing.B) {
	benchVerify(b, Keys{HMACSecret: testSecret}, sign(b, jwt.SigningMethodHS512, goodClaims(), testSecret))
}

func BenchmarkVerifyRS256(b *testing.B) {
	testKeys(b)
	benchVerify(b, Keys{PublicKeysPEM: pemPublic(b, &rsaKey.PublicKey)}, sign(b, jwt.SigningMethodRS256, goodClaims(), rsaKey))
}

func BenchmarkVerifyES256(b *testing.B) {
	testKeys(b)
	benchVerify(b, Keys{PublicKeysPEM: pemPublic(b, &ecKey.PublicKey)}, sign(b, jwt.SigningMethodES256, goodClaims(), ecKey))
}

// BenchmarkVerifyRefused is the cost of a forged token: an attacker should
// not make the server work harder than a genuine caller does.
func BenchmarkVerifyRefused(b *testing.B) {
	v := newTestVerifier(b, Keys{HMACSecret: testSecret})
	tok := sign(b, jwt.SigningMethodHS256, goodClaims(), []byte("wrong-secret-wrong-secret-wrong-secret"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkMiddleware(b *testing.B) {
	v := newTestVerifier(b, Keys{HMACSecret: testSecret})
	h := Middleware(v, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/v1/connections", nil)
	r.Header.Set("Authorization", "Bearer "+sign(b, jwt.SigningMethodHS256, goodClaims(), testSecret))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
