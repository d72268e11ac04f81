package api_test

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/membrane-dev/membrane/runtime/api"
)

const docURL = "https://membrane.dev/openapi.json"

// spec is openapi.json, parsed once, with its schemas compiled on demand.
var spec = sync.OnceValues(func() (*openAPI, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.OpenAPI))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for _, r := range api.Routes() {
		mux.HandleFunc(r, func(http.ResponseWriter, *http.Request) {})
	}
	return &openAPI{doc: doc.(map[string]any), c: c, mux: mux, schemas: map[string]*jsonschema.Schema{}}, nil
})

type openAPI struct {
	doc map[string]any
	mux *http.ServeMux

	mu      sync.Mutex
	c       *jsonschema.Compiler
	schemas map[string]*jsonschema.Schema
}

func loadSpec(t *testing.T) *openAPI {
	t.Helper()
	o, err := spec()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return o
}

// schema compiles the schema at a JSON Pointer of the document.
func (o *openAPI) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.schemas[ptr]; ok {
		return s
	}
	s, err := o.c.Compile(docURL + "#" + ptr)
	if err != nil {
		t.Fatalf("openapi.json: compile %s: %v", ptr, err)
	}
	o.schemas[ptr] = s
	return s
}

// get follows a JSON Pointer through the document.
func (o *openAPI) get(ptr string) any {
	var v any = o.doc
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
	}
	return v
}

func esc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// checkDocumented holds a response to openapi.json: a request a route
// matched must get a status the document lists for the operation (or
// "default", for 5xx only), with a media type and a body it describes.
func checkDocumented(t *testing.T, r *http.Request, res *response) {
	t.Helper()
	o := loadSpec(t)
	_, pattern := o.mux.Handler(r)
	if pattern == "" {
		return // 404 and 405 of no route: the API description says how
	}
	method, path, _ := strings.Cut(pattern, " ")
	opPtr := "/paths/" + esc(path) + "/" + strings.ToLower(method)
	if o.get(opPtr) == nil {
		t.Fatalf("openapi.json has no operation %s", pattern)
	}
	respPtr := opPtr + "/responses/" + strconv.Itoa(res.Status)
	if o.get(respPtr) == nil {
		if res.Status < 500 {
			t.Fatalf("%s answered %d, which openapi.json does not document: %s", pattern, res.Status, res.Body)
		}
		respPtr = opPtr + "/responses/default"
	}
	if m, ok := o.get(respPtr).(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok {
			respPtr = strings.TrimPrefix(ref, "#")
		}
	}
	content, _ := o.get(respPtr + "/content").(map[string]any)
	if len(res.Body) == 0 || r.Method == "HEAD" {
		if len(content) > 0 && res.Status != http.StatusNoContent {
			t.Fatalf("%s %d: empty body, but openapi.json describes one", pattern, res.Status)
		}
		return
	}
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if _, ok := content[mt]; !ok {
		t.Fatalf("%s %d answered %s, which openapi.json does not describe: %s", pattern, res.Status, mt, res.Body)
	}
	if mt != "application/json" && mt != "application/problem+json" {
		return
	}
	body, err := jsonschema.UnmarshalJSON(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatalf("%s %d: the body is not JSON: %v", pattern, res.Status, err)
	}
	if err := o.schema(t, respPtr+"/content/"+esc(mt)+"/schema").Validate(body); err != nil {
		t.Fatalf("%s %d: the body does not match openapi.json: %v\n%s", pattern, res.Status, err, res.Body)
	}
}

// TestOpenAPIRoutes: the document describes exactly the routes the
// handler serves, with their access.
func TestOpenAPIRoutes(t *testing.T) {
	o := loadSpec(t)
	access := api.RouteAccess()
	var documented []string
	for path, item := range o.doc["paths"].(map[string]any) {
		for method, opv := range item.(map[string]any) {
			key := strings.ToUpper(method) + " " + path
			documented = append(documented, key)
			op := opv.(map[string]any)
			sec, hasSec := op["security"].([]any)
			public := hasSec && len(sec) == 0
			if want := access[key] == "public"; public != want {
				t.Errorf("%s: openapi.json says public %v, the route table %s", key, public, access[key])
			}
			if access[key] == "tenant" || access[key] == "admin" {
				if o.get("/paths/"+esc(path)+"/"+method+"/responses/401") == nil {
					t.Errorf("%s: no 401 documented", key)
				}
			}
			if access[key] == "admin" && o.get("/paths/"+esc(path)+"/"+method+"/responses/403") == nil {
				t.Errorf("%s: no 403 documented", key)
			}
		}
	}
	routes := api.Routes()
	slices.Sort(routes)
	slices.Sort(documented)
	if !slices.Equal(routes, documented) {
		for _, r := range routes {
			if !slices.Contains(documented, r) {
				t.Errorf("route %s is not in openapi.json", r)
			}
		}
		for _, d := range documented {
			if !slices.Contains(routes, d) {
				t.Errorf("openapi.json documents %s, which the handler does not serve", d)
			}
		}
	}
}

// TestOpenAPISchemasCompile compiles every schema of the document, so a
// broken $ref fails here rather than in the first test that meets it.
func TestOpenAPISchemasCompile(t *testing.T) {
	o := loadSpec(t)
	for name := range o.doc["components"].(map[string]any)["schemas"].(map[string]any) {
		o.schema(t, "/components/schemas/"+esc(name))
	}
}

func TestOpenAPIServed(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	r := c.get("/openapi.json", "")
	wantStatus(t, r, http.StatusOK)
	if !bytes.Equal(r.Body, api.OpenAPI) {
		t.Fatal("GET /openapi.json is not the embedded document")
	}
}

// TestOpenAPISchemasAreStrict: the response schemas refuse what must never
// be answered, so the checks of real responses mean something.
func TestOpenAPISchemasAreStrict(t *testing.T) {
	o := loadSpec(t)
	conn := map[string]any{"id": "conn_1", "tenant": "acme", "connector": "crm", "state": "connected",
		"createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z", "version": json.Number("1")}
	s := o.schema(t, "/components/schemas/Connection")
	if err := s.Validate(conn); err != nil {
		t.Fatalf("a connection does not validate: %v", err)
	}
	conn["credentials"] = map[string]any{"apiKey": "key_x"}
	if s.Validate(conn) == nil {
		t.Fatal("a connection with its credentials validates")
	}
	if o.schema(t, "/components/schemas/Problem").Validate(map[string]any{"type": "x", "title": "x", "status": json.Number("400")}) == nil {
		t.Fatal("a problem without a detail validates")
	}
}
