package prismtest_test

import (
	"encoding/json"
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
			s, err := p.Get(prismtest.Description{Files: []string{file}})
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
	_, err := p.Get(prismtest.Description{Files: []string{filepath.Join(t.TempDir(), "missing.json")}})
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("err = %v, want it to name the missing file", err)
	}
	// The error is remembered, not retried by every caller.
	_, again := p.Get(prismtest.Description{Files: []string{filepath.Join(t.TempDir(), "missing.json")}})
	if again == nil {
		t.Error("a second Get succeeded")
	}
}

func TestMerge(t *testing.T) {
	apis, err := prismtest.APIs()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	want := map[string]bool{}
	for _, f := range []string{"crm-contacts-v3.json", "crm-companies-v3.json", "crm-deals-v3.json", "crm-tickets-v3.json"} {
		p := filepath.Join(apis, "hubspot", f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Skipf("the vendors' descriptions are not there: %v", err)
		}
		var doc struct{ Paths map[string]any }
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for k := range doc.Paths {
			want[k] = true
		}
		files = append(files, p)
	}
	b, err := prismtest.Merge(files...)
	if err != nil {
		t.Fatal(err)
	}
	var merged struct {
		Paths   map[string]any
		Servers []any
	}
	if err := json.Unmarshal(b, &merged); err != nil {
		t.Fatal(err)
	}
	if len(merged.Paths) != len(want) || len(merged.Servers) == 0 {
		t.Errorf("merged %d paths and %d servers, want %d paths and the first file's servers", len(merged.Paths), len(merged.Servers), len(want))
	}
	for p := range want {
		if merged.Paths[p] == nil {
			t.Errorf("path %s is missing", p)
		}
	}

	// The same path twice is refused, naming it.
	notes, _ := filepath.Abs("testdata/notes.json")
	if _, err := prismtest.Merge(notes, notes); err == nil || !strings.Contains(err.Error(), "/notes") {
		t.Errorf("err = %v, want the path named", err)
	}
}

func TestSubset(t *testing.T) {
	notes, _ := filepath.Abs("testdata/notes.json")
	doc, err := prismtest.Merge(notes)
	if err != nil {
		t.Fatal(err)
	}
	b, err := prismtest.Subset(doc, []string{"/notes"})
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		Paths      map[string]any
		Components struct {
			Schemas         map[string]any
			SecuritySchemes map[string]any
		}
	}
	if err := json.Unmarshal(b, &sub); err != nil {
		t.Fatal(err)
	}
	if len(sub.Paths) != 1 || sub.Paths["/notes"] == nil {
		t.Errorf("paths %v, want /notes alone", sub.Paths)
	}
	// /broken's Note is kept because /notes refers to it too; the security
	// scheme because requirements name it.
	if sub.Components.Schemas["Note"] == nil || sub.Components.SecuritySchemes["bearer"] == nil {
		t.Errorf("components %+v lack what /notes needs", sub.Components)
	}
	if _, err := prismtest.Subset(doc, []string{"/nothing"}); err == nil {
		t.Error("a subset with no path succeeded")
	}

	// Served, the subset still refuses what breaks the description.
	p := pool(t)
	srv, err := p.Get(prismtest.Description{Files: []string{notes}, Paths: []string{"/notes"}})
	if err != nil {
		t.Fatal(err)
	}
	status, h, body := send(t, "POST", srv.URL+"/notes", "Bearer k", `{"colour":"red"}`)
	if why := prismtest.Rejection(status, h, body); !strings.Contains(why, "colour") {
		t.Errorf("%d %s: Rejection = %q, want the extra field named", status, body, why)
	}
	status, h, body = send(t, "GET", srv.URL+"/broken", "Bearer k", "")
	if why := prismtest.Rejection(status, h, body); !strings.Contains(why, "NO_PATH_MATCHED") {
		t.Errorf("%d %s: /broken is served by the subset: %q", status, body, why)
	}
}

// A $ref into a component's inside (PagerDuty's ArgumentError refers to
// #/components/responses/Conflict/content/application~1json/schema) keeps
// the whole component, and what it refers to, in a subset.
func TestSubsetKeepsComponentsReachedInside(t *testing.T) {
	doc := []byte(`{"openapi":"3.0.0","info":{"title":"t","version":"1"},
	 "paths":{"/a":{"get":{"responses":{"400":{"$ref":"#/components/responses/Arg"}}}},"/b":{}},
	 "components":{
	  "responses":{
	   "Arg":{"description":"x","content":{"application/json":{"schema":{"$ref":"#/components/responses/Conflict/content/application~1json/schema"}}}},
	   "Conflict":{"description":"y","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Err"}}}},
	   "Unused":{"description":"z"}},
	  "schemas":{"Err":{"type":"object"},"Other":{"type":"string"}}}}`)
	b, err := prismtest.Subset(doc, []string{"/a"})
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		Components struct {
			Responses map[string]any
			Schemas   map[string]any
		}
	}
	if err := json.Unmarshal(b, &sub); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Arg", "Conflict"} {
		if sub.Components.Responses[name] == nil {
			t.Errorf("response %s dropped; kept %v", name, sub.Components.Responses)
		}
	}
	if sub.Components.Schemas["Err"] == nil {
		t.Errorf("schema Err (reached through Conflict) dropped; kept %v", sub.Components.Schemas)
	}
	if sub.Components.Responses["Unused"] != nil || sub.Components.Schemas["Other"] != nil {
		t.Errorf("unreached components kept: %+v", sub.Components)
	}
}
