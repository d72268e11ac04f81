package api_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/apitest"
	"github.com/membrane-dev/membrane/runtime/api"
	"github.com/membrane-dev/membrane/runtime/store/storetest"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// handToken signs claims with secret by hand (HS256), or leaves the
// signature empty for alg none: the forgeries a verifier must refuse.
func handToken(t *testing.T, alg string, claims map[string]any, secret []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]any{"alg": alg, "typ": "JWT"}) + "." + enc(claims)
	if alg == "none" {
		return signing + "."
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func claims(tenant, issuer string, exp time.Time) map[string]any {
	return map[string]any{"sub": tenant, "iss": issuer, "iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": exp.Unix()}
}

// fixture is tenant acme's data for the route-driven tests: a
// connection, its override, a tenant-wide override, a run log and a
// subscription.
type fixture struct {
	conn, runID, sub string
}

func newFixture(t *testing.T, c *tc) fixture {
	t.Helper()
	acme := c.Token("acme")
	r := c.post("/v1/connections", acme, map[string]any{"connector": "crm", "parameters": map[string]any{"region": "eu"},
		"credentials": map[string]any{"apiKey": apitest.GoodKey}})
	wantStatus(t, r, http.StatusCreated)
	conn := r.object(t)["id"].(string)
	r = c.post("/v1/connections/"+conn+"/actions/create-contact/run", acme, map[string]any{"input": map[string]any{"email": "ada@example.com"}})
	wantStatus(t, r, http.StatusOK)
	runID := r.object(t)["runId"].(string)
	for _, p := range []string{"/v1/connections/" + conn + "/override", "/v1/connectors/crm/override"} {
		r = c.do(req{method: "PUT", path: p, token: acme, body: overrideDoc, header: map[string]string{"Content-Type": "application/yaml"}})
		wantStatus(t, r, http.StatusOK)
	}
	r = c.post("/v1/connections/"+conn+"/subscriptions", acme, map[string]any{"event": "contact-changed"})
	wantStatus(t, r, http.StatusCreated)
	return fixture{conn: conn, runID: runID, sub: r.object(t)["id"].(string)}
}

const overrideDoc = `kind: ConnectionOverride
connector: crm
actions:
  create-contact:
    request:
      body:
        source: api
`

// sample builds each route's request on one connection id and run log id,
// with a body that passes validation, so that only the token or the
// tenant decides the answer.
func sample(route string, f fixture) req {
	conn, runID := f.conn, f.runID
	if conn == "" {
		conn = "none" // an id that names nothing, so that the path still matches
	}
	method, path, _ := strings.Cut(route, " ")
	path = strings.Replace(path, "{subId}", f.sub, 1)
	path = strings.NewReplacer("{tenant}", "initech", "{connector}", "crm", "{action}", "create-contact").Replace(path)
	if strings.HasPrefix(path, "/v1/run-logs/") {
		path = strings.Replace(path, "{id}", runID, 1)
	}
	path = strings.Replace(path, "{id}", conn, 1)
	r := req{method: method, path: path}
	switch {
	case strings.HasSuffix(path, "/run"):
		r.body = map[string]any{"input": map[string]any{"email": "ada@example.com"}}
	case strings.HasSuffix(path, "/subscriptions") && method == "POST":
		r.body = map[string]any{"event": "deal-pushed"}
	case strings.HasSuffix(path, "/reconnect"):
		r.body = map[string]any{"credentials": map[string]any{"apiKey": apitest.NewKey}}
	case path == "/v1/connections":
		if method == "POST" {
			r.body = map[string]any{"connector": "crm", "parameters": map[string]any{"region": "eu"}, "credentials": map[string]any{"apiKey": apitest.GoodKey}}
		}
	case path == "/v1/oauth/authorize":
		r.body = map[string]any{"connector": "oauthcrm"}
	case strings.HasSuffix(path, "/override"), strings.HasSuffix(path, "/override/check"):
		if method == "PUT" || method == "POST" {
			r.body, r.header = overrideDoc, map[string]string{"Content-Type": "application/yaml"}
		}
	}
	return r
}

// TestAuthEveryRoute drives every route of the table with every kind of
// bad token: each gets the one 401 body, whatever was wrong.
func TestAuthEveryRoute(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	f := newFixture(t, c)
	now := time.Now()
	other, err := tenancy.NewMinter("another-workspace", apitest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer, err := other.Mint(tenancy.Claims{Tenant: "acme"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"missing":       "",
		"expired":       handToken(t, "HS256", claims("acme", apitest.Workspace, now.Add(-time.Hour)), apitest.Secret),
		"alg none":      handToken(t, "none", claims("acme", apitest.Workspace, now.Add(time.Hour)), nil),
		"wrong key":     handToken(t, "HS256", claims("acme", apitest.Workspace, now.Add(time.Hour)), []byte("not-the-workspace-secret-0123456789-xyz")),
		"other issuer":  otherIssuer,
		"garbage":       "not.a.token",
		"admin forgery": handToken(t, "HS256", map[string]any{"sub": "acme", "iss": apitest.Workspace, "exp": now.Add(time.Hour).Unix(), "isAdmin": true}, []byte("guessed-secret-guessed-secret-guessed-secret")),
	}
	var first []byte
	for route, access := range api.RouteAccess() {
		if access == "public" {
			continue
		}
		for name, tok := range bad {
			r := sample(route, f)
			r.token = tok
			res := c.do(r)
			if res.Status != http.StatusUnauthorized {
				t.Fatalf("%s with a %s token: %d %s", route, name, res.Status, res.Body)
			}
			if res.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("%s: WWW-Authenticate %q", route, res.Header.Get("WWW-Authenticate"))
			}
			if first == nil {
				first = res.Body
			} else if !bytes.Equal(first, res.Body) {
				t.Fatalf("%s with a %s token: a different 401 body:\n%s\nvs\n%s", route, name, res.Body, first)
			}
		}
	}
	// A non-bearer scheme is refused the same way.
	r := c.do(req{method: "GET", path: "/v1/connections", header: map[string]string{"Authorization": "Basic YWNtZTpwdw=="}})
	if r.Status != http.StatusUnauthorized || !bytes.Equal(r.Body, first) {
		t.Fatalf("Basic auth: %d %s", r.Status, r.Body)
	}
}

// TestAdminRoutesRefuseTenants: an admin route with a tenant's token is a
// 403; with an admin token it works.
func TestAdminRoutesRefuseTenants(t *testing.T) {
	c := newTC(t, sqliteOnly(t))
	n := 0
	for route, access := range api.RouteAccess() {
		if access != "admin" {
			continue
		}
		n++
		r := sample(route, fixture{})
		r.token = c.Token("acme")
		res := c.do(r)
		wantStatus(t, res, http.StatusForbidden)
	}
	if n == 0 {
		t.Fatal("no admin route")
	}
}

// TestOtherTenantIsNotFound: every route on acme's resources, called with
// globex's token, answers exactly what globex gets for an id that does
// not exist; and globex's listings hold nothing of acme's.
func TestOtherTenantIsNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, newDB storetest.NewDB) {
		c := newTC(t, newDB)
		f := newFixture(t, c)
		globex := c.Token("globex")
		checked := 0
		for route, access := range api.RouteAccess() {
			if access != "tenant" || !strings.Contains(route, "{id}") {
				continue
			}
			checked++
			theirs := sample(route, f)
			theirs.token = globex
			got := c.do(theirs)
			missing := sample(route, fixture{conn: "conn_doesnotexist0000000", runID: "run_doesnotexist", sub: "sub_doesnotexist0000000"})
			missing.token = globex
			want := c.do(missing)
			wantProblem(t, want, http.StatusNotFound, "not-found")
			if got.Status != want.Status || !bytes.Equal(got.Body, want.Body) {
				t.Errorf("%s on another tenant's id: %d %s\nwant, as for a missing id: %d %s", route, got.Status, got.Body, want.Status, want.Body)
			}
		}
		if checked < 10 {
			t.Fatalf("only %d routes with an id checked", checked)
		}
		// The tenant-wide override of acme is not globex's.
		wantProblem(t, c.get("/v1/connectors/crm/override", globex), http.StatusNotFound, "not-found")
		for _, path := range []string{"/v1/connections", "/v1/run-logs", "/v1/overrides"} {
			r := c.get(path, globex)
			wantStatus(t, r, http.StatusOK)
			if items := r.object(t)["items"].([]any); len(items) != 0 {
				t.Errorf("%s of globex holds acme's: %s", path, r.Body)
			}
		}
		// And acme still has its own.
		wantStatus(t, c.get("/v1/connections/"+f.conn, c.Token("acme")), http.StatusOK)
	})
}
