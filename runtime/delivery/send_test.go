package delivery

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func testSender() *webhookSender {
	return newWebhookSender(&dialGuard{allow: loopback}, 0)
}

func TestGuardRefusesPrivateTargetsAtDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("a refused target was reached")
	}))
	defer srv.Close()
	snd := newWebhookSender(&dialGuard{}, 0)
	// By IP and by a name that resolves to loopback: both are checked on
	// the address actually dialled.
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/x"} {
		r := snd.send(u, 2*time.Second, nil, []byte("{}"), time.Now(), nil)
		var pe *PrivateAddressError
		if !errors.As(r.Err, &pe) || pe.Kind != "loopback" || r.Status != 0 {
			t.Fatalf("%s: %d %v: want a loopback refusal", u, r.Status, r.Err)
		}
		if !strings.Contains(r.Err.Error(), "allowPrivateNetworks") {
			t.Fatalf("error %q does not say how to allow it", r.Err)
		}
	}
	g := &dialGuard{allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	for addr, kind := range map[string]string{
		"10.2.3.4": "private", "192.168.1.1": "private", "172.16.0.1": "private", "100.64.0.1": "private",
		"169.254.169.254": "link-local", "fe80::1": "link-local", "::1": "loopback", "0.0.0.0": "unspecified",
		"::": "unspecified", "224.0.0.1": "multicast", "ff02::1": "multicast", "::ffff:127.0.0.1": "loopback",
		"fd00::1": "private", "10.1.2.3": "", "93.184.216.34": "", "2606:4700::1": "",
	} {
		err := g.check(netip.MustParseAddr(addr))
		var pe *PrivateAddressError
		if kind == "" && err != nil || kind != "" && (!errors.As(err, &pe) || pe.Kind != kind) {
			t.Errorf("%s: %v, want %q", addr, err, kind)
		}
	}
}

func TestRedirectIsAFailureNamingTheHost(t *testing.T) {
	var hit atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://evil.example.net/steal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	r := testSender().send(srv.URL, 2*time.Second, nil, []byte("{}"), time.Now(), nil)
	if r.Err == nil || r.Status != 307 || !strings.Contains(r.Err.Error(), "evil.example.net") {
		t.Fatalf("redirect: %d %v", r.Status, r.Err)
	}
}

// A 2 GB answer, declared or streamed, is a failed attempt read no further
// than the limit.
func TestHugeAnswerIsAFailureWithoutReadingIt(t *testing.T) {
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/declared" {
			w.Header().Set("Content-Length", fmt.Sprint(int64(2)<<30))
		}
		buf := make([]byte, 32<<10)
		for written.Load() < 2<<30 {
			n, err := w.Write(buf)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	for _, path := range []string{"/declared", "/streamed"} {
		written.Store(0)
		r := testSender().send(srv.URL+path, 30*time.Second, nil, []byte("{}"), time.Now(), nil)
		if r.Err == nil || !strings.Contains(r.Err.Error(), "over 65536 bytes") {
			t.Fatalf("%s: %d %v", path, r.Status, r.Err)
		}
		if len(r.Excerpt) > ExcerptMax {
			t.Fatalf("%s: excerpt of %d bytes", path, len(r.Excerpt))
		}
	}
	if w := written.Load(); w >= 2<<30 {
		t.Fatalf("the whole 2 GB was sent (%d bytes)", w)
	}
}

func TestSilentAndGarbagePeersAreFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				switch {
				case strings.Contains(line, "/silent"):
					<-hold
				case strings.Contains(line, "/garbage"):
					c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 not http\r\n\r\n"))
				case strings.Contains(line, "/trickle"):
					// A slow answer: a byte now and then, never done.
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"))
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-hold:
							return
						case <-tick.C:
							if _, err := c.Write([]byte("x")); err != nil {
								return
							}
						}
					}
				case strings.Contains(line, "/half"):
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
				}
			}()
		}
	}()
	base := "http://" + ln.Addr().String()
	for path, want := range map[string]string{
		"/silent":  "no answer within 300ms",
		"/garbage": "unreadable answer",
		"/half":    "could not be read",
		"/trickle": "no answer within 300ms",
	} {
		timeout := 10 * time.Second // only the peers that never finish wait it out
		if strings.Contains(want, "no answer") {
			timeout = 300 * time.Millisecond
		}
		r := testSender().send(base+path, timeout, nil, []byte("{}"), time.Now(), nil)
		if r.Err == nil || !strings.Contains(r.Err.Error(), want) {
			t.Errorf("%s: %d %v, want %q", path, r.Status, r.Err, want)
		}
	}
	// Nothing listens: a connection failure.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln2.Addr().String()
	ln2.Close()
	if r := testSender().send(closed, time.Second, nil, []byte("{}"), time.Now(), nil); r.Err == nil || !strings.Contains(r.Err.Error(), "connection failed") {
		t.Errorf("closed port: %v", r.Err)
	}
}

func TestAnswersAndExcerpts(t *testing.T) {
	secret := NewSecret()
	signer, _ := NewSigner([]string{secret})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hd := signer.Headers("evt_1", now, []byte("{}"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			w.WriteHeader(http.StatusGone)
		case "/echo":
			// A backend that echoes what it got: our secret and signature
			// must not be kept.
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "bad signature %s for secret %s %s", r.Header.Get(HeaderSignature), secret, strings.Repeat("é", 600))
		case "/busy":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/date":
			w.Header().Set("Retry-After", now.Add(time.Hour).Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
		case "/ok":
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte("thanks"))
		}
	}))
	defer srv.Close()
	red := redactions([]string{secret}, hd[HeaderSignature])
	send := func(p string) result { return testSender().send(srv.URL+p, 2*time.Second, hd, []byte("{}"), now, red) }
	if r := send("/ok"); r.Err != nil || r.Status != 202 || r.Excerpt != "thanks" {
		t.Errorf("ok: %+v", r)
	}
	if r := send("/gone"); !r.Gone || r.Err == nil {
		t.Errorf("gone: %+v", r)
	}
	r := send("/echo")
	if r.Status != 400 || len(r.Excerpt) > ExcerptMax || strings.Contains(r.Excerpt, secret[6:20]) ||
		strings.Contains(r.Excerpt, hd[HeaderSignature][3:20]) || !strings.Contains(r.Excerpt, "[redacted]") || !strings.HasSuffix(r.Excerpt, "é") {
		t.Errorf("echo: excerpt %q", r.Excerpt)
	}
	if r := send("/busy"); r.RetryAfter != 2*time.Minute {
		t.Errorf("busy: %+v", r)
	}
	if r := send("/date"); r.RetryAfter != time.Hour {
		t.Errorf("date: %+v", r)
	}
	for _, u := range []string{"ftp://x/y", "http://user:pw@127.0.0.1/", "/relative"} {
		if r := testSender().send(u, time.Second, nil, nil, now, nil); r.Err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0": -1, "-5": -1, "": -1, "soon": -1, "30": 30 * time.Second, "999999999": MaxRetryAfter,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       -1,
		now.Add(72 * time.Hour).Format(time.RFC850):       MaxRetryAfter,
	} {
		d, ok := ParseRetryAfter(v, now)
		if (want < 0 && ok) || (want >= 0 && (!ok || d != want)) {
			t.Errorf("%q: %v %v, want %v", v, d, ok, want)
		}
	}
}

// HTTPS goes through the same guarded dial, and verifies the certificate.
func TestHTTPSTarget(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderID) != "evt_tls" {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	hd := map[string]string{HeaderID: "evt_tls"}
	// Not trusted: a failure naming the certificate.
	if r := testSender().send(srv.URL, 5*time.Second, hd, []byte("{}"), time.Now(), nil); r.Err == nil || !strings.Contains(r.Err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %d %v", r.Status, r.Err)
	}
	snd := testSender()
	snd.client.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	if r := snd.send(srv.URL, 5*time.Second, hd, []byte("{}"), time.Now(), nil); r.Err != nil || r.Status != 200 {
		t.Fatalf("trusted: %d %v", r.Status, r.Err)
	}
	guarded := newWebhookSender(&dialGuard{}, 0)
	guarded.client.TLSConfig = snd.client.TLSConfig
	var pe *PrivateAddressError
	if r := guarded.send(srv.URL, 5*time.Second, hd, []byte("{}"), time.Now(), nil); !errors.As(r.Err, &pe) {
		t.Fatalf("https to loopback unguarded: %v", r.Err)
	}
}
