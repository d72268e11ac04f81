package httpx

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The dialer connects to a checked IP, not the name: TLS must still verify
// the certificate against the URL's host name.
func TestTLSVerifiesHostName(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "api.test"},
		DNSNames:     []string{"api.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("secure") }, Logger: quiet{}}
	go s.ServeTLSEmbed(ln, certPEM, keyPEM) //nolint:errcheck
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	roots := x509.NewCertPool()
	roots.AddCert(mustParse(t, der))
	c, _ := testClient(Config{TLSConfig: &tls.Config{RootCAs: roots}})
	c.lookup = func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	resp, err := c.Do(context.Background(), &Request{URL: "https://api.test:" + port + "/", AllowedHost: "api.test:" + port})
	if err != nil || string(resp.Body) != "secure" {
		t.Fatalf("%v %v", err, resp)
	}
	// Another name on the same address fails verification.
	_, err = c.Do(context.Background(), &Request{URL: "https://other.test:" + port + "/"})
	if e := mustKind(t, err, KindNetwork); e.Retryable || e.Attempts != 1 {
		t.Fatalf("certificate error retried: %v", err)
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
