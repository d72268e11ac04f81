package prismtest_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/membrane-dev/membrane/connectors/internal/prismtest"
)

func pool(t *testing.T) *prismtest.Pool {
	t.Helper()
	bin, err := prismtest.Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	p := prismtest.NewPool(bin)
	t.Cleanup(p.Close)
	return p
}

func send(t *testing.T, method, url, auth, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestPrism(t *testing.T) {
	p := pool(t)
	file, err := filepath.Abs("testdata/notes.json")
	if err != nil {
		t.Fatal(err)
	}
	// Every caller at once gets the one Prism.
	var wg sync.WaitGroup
	srvs := make([]*prismtest.Server, 4)
	for i := range srvs {
		wg.Go(func() {
			s, err := p.Get(file)
			if err != nil {
				t.Error(err)
			}
			srvs[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, s := range srvs[1:] {
		if s != srvs[0] {
			t.Fatal("two Prisms for one file")
		}
	}
	if n := len(p.Servers()); n != 1 {
		t.Fatalf("%d Prisms running, want 1", n)
	}
	base := srvs[0].URL
	t.Logf("Prism listening at %s after %v", base, srvs[0].Startup)

	t.Run("a valid request gets the description's answer", func(t *testing.T) {
		status, h, body := send(t, "POST", base+"/notes", "Bearer k", `{"text":"hi"}`)
		if status != 201 || !strings.Contains(body, `"n_1"`) {
			t.Fatalf("%d %s", status, body)
		}
		if why := prismtest.Rejection(status, h, body); why != "" {
			t.Errorf("Rejection = %q, want none", why)
		}
	})

	t.Run("an error the test asks for is the description's, not a refusal", func(t *testing.T) {
		status, h, body := send(t, "POST", base+"/notes", "Bearer k", `{"text":"hi"}`, "Prefer", "code=404")
		if status != 404 || !strings.Contains(body, "no such notebook") {
			t.Fatalf("%d %s", status, body)
		}
		if why := prismtest.Rejection(status, h, body); why != "" {
			t.Errorf("Rejection = %q, want none", why)
		}
	})

	t.Run("a body that breaks the description is refused, naming the violations", func(t *testing.T) {
		status, h, body := send(t, "POST", base+"/notes", "Bearer k", `{"text":"this text is far too long","colour":"red"}`)
		why := prismtest.Rejection(status, h, body)
		for _, want := range []string{"422", "body.text", "20 characters", "colour"} {
			if !strings.Contains(why, want) {
				t.Errorf("Rejection = %q, want it to name %q", why, want)
			}
		}
		if status < 400 || status >= 500 {
			t.Errorf("status %d, want a 4xx", status)
		}
	})

	t.Run("a request without the credentials the description asks for is refused", func(t *testing.T) {
		status, h, body := send(t, "POST", base+"/notes", "", `{"text":"hi"}`)
		if why := prismtest.Rejection(status, h, body); !strings.Contains(why, "401") {
			t.Errorf("%d %s: Rejection = %q, want a 401 refusal", status, body, why)
		}
	})

	t.Run("a path the description lacks is refused", func(t *testing.T) {
		status, h, body := send(t, "GET", base+"/v1/notes", "Bearer k", "")
		if why := prismtest.Rejection(status, h, body); !strings.Contains(why, "NO_PATH_MATCHED") {
			t.Errorf("%d %s: Rejection = %q, want no path matched", status, body, why)
		}
	})

	t.Run("an example that breaks its own schema is reported", func(t *testing.T) {
		status, h, body := send(t, "GET", base+"/broken", "Bearer k", "")
		if why := prismtest.Rejection(status, h, body); !strings.Contains(why, "response.body") {
			t.Errorf("%d %s: Rejection = %q, want a response violation", status, body, why)
		}
	})
}

func TestStartFailure(t *testing.T) {
	p := pool(t)
	_, err := p.Get(filepath.Join(t.TempDir(), "missing.json"))
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("err = %v, want it to name the missing file", err)
	}
	// The error is remembered, not retried by every caller.
	_, again := p.Get(filepath.Join(t.TempDir(), "missing.json"))
	if again == nil {
		t.Error("a second Get succeeded")
	}
}
