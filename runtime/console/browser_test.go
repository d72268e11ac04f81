package console_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/runtime/console"
	"github.com/membrane-dev/membrane/spec/diag"
)

// An author clicks through the development console in a real browser:
// the connector and its action with their provenance, the tenant's
// connection and its state, the form made from the action's input schema,
// and a run with its output and its redacted request and response. The
// API key is on no page.
func TestBrowserClickThrough(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, envOptions{open: true})
	e.listen()
	conn := e.connect()

	steps(t, ctx, stepTimeout, "open the console", chromedp.Navigate(e.URL+"/console"), chromedp.WaitVisible(`#catalog`))
	if loc := get(t, ctx, chromedp.Location()); loc != e.URL+"/console/" {
		t.Errorf("/console went to %q", loc)
	}
	screenshot(t, ctx, "1-overview")
	catalog := get(t, ctx, chromedp.Text(`#catalog`))
	for _, want := range []string{"CRM", "create-contact", "implements create-contact", "contact-changed"} {
		if !strings.Contains(catalog, want) {
			t.Errorf("the catalogue does not show %q:\n%s", want, catalog)
		}
	}

	// The connector, merged through its layers.
	steps(t, ctx, stepTimeout, "open the connector", chromedp.Click(`#catalog h2 a`), chromedp.WaitVisible(`pre.explain`))
	if txt := get(t, ctx, chromedp.Text(`pre.explain`)); !strings.Contains(txt, "X-Api-Key") || !regexp.MustCompile(`# integration \S*connectors/crm/connector\.yaml:\d+`).MatchString(txt) {
		t.Errorf("the connector's definition has no provenance:\n%s", txt)
	}

	// The tenant's connections, with their state.
	steps(t, ctx, stepTimeout, "open the tenant", chromedp.Click(`nav a[href="/console/tenants"]`),
		// The overview has the same form: type into the tenants page's,
		// once it has replaced the overview.
		chromedp.WaitVisible(`//h1[text()="Tenants"]`),
		chromedp.SendKeys(`#open-tenant`, tenant), chromedp.Submit(`#open-tenant`), chromedp.WaitVisible(`table.connections`))
	screenshot(t, ctx, "2-tenant")
	if txt := get(t, ctx, chromedp.Text(`table.connections`)); !strings.Contains(txt, conn.ID) || !strings.Contains(txt, "connected") {
		t.Errorf("the tenant's connections show %q", txt)
	}

	// The action: its definition with the universal and integration layers.
	steps(t, ctx, stepTimeout, "open the action", chromedp.Navigate(e.URL+"/console/"),
		chromedp.Click(`#catalog a[href$="/actions/create-contact"]`), chromedp.WaitVisible(`#definition pre.explain`))
	def := get(t, ctx, chromedp.Text(`#definition pre.explain`))
	for _, want := range []string{`# universal \S*universal/create-contact\.yaml:\d+`, `# integration \S*connectors/crm/actions/create-contact\.yaml:\d+`} {
		if !regexp.MustCompile(want).MatchString(def) {
			t.Errorf("the action's definition lacks %q:\n%s", want, def)
		}
	}

	// Choose the tenant, fill the form made from the schema, run.
	const email = `input[name="/input/email"]`
	steps(t, ctx, stepTimeout, "choose the tenant", chromedp.SendKeys(`#tenant`, tenant), chromedp.Submit(`#tenant`), chromedp.WaitVisible(email))
	if v := get(t, ctx, chromedp.Value(`#connection`)); v != conn.ID {
		t.Errorf("the tenant's only connection is not chosen: %q", v)
	}
	if typ := get(t, ctx, chromedp.AttributeValue(email, "type")); typ.Value != "email" {
		t.Errorf("the email field is a %q input", typ.Value)
	}
	screenshot(t, ctx, "3-form")
	steps(t, ctx, stepTimeout, "run", chromedp.SendKeys(email, "ada@example.com"),
		chromedp.SendKeys(`input[name="/input/firstName"]`, "Ada"),
		chromedp.Click(`input[name="/input/vip"]`),
		chromedp.Click(`#run-form button[type=submit]`), chromedp.WaitVisible(`#output`))
	screenshot(t, ctx, "4-result")
	if out := get(t, ctx, chromedp.Text(`#output`)); !strings.Contains(out, `"id": "`+contact+`"`) {
		t.Errorf("the output shows %q", out)
	}
	if req := get(t, ctx, chromedp.Text(`.request-body`)); !strings.Contains(req, `"email": "ada@example.com"`) || !strings.Contains(req, `"vip": true`) {
		t.Errorf("the request shows %q", req)
	}
	if resp := get(t, ctx, chromedp.Text(`.response-body`)); !strings.Contains(resp, contact) {
		t.Errorf("the response shows %q", resp)
	}
	if x := get(t, ctx, chromedp.Text(`.exchange h3`)); !strings.Contains(x, "POST ") || !strings.Contains(x, "/contacts") || !strings.Contains(x, "200") {
		t.Errorf("the exchange is titled %q", x)
	}
	if v := get(t, ctx, chromedp.Value(email)); v != "ada@example.com" {
		t.Errorf("the input typed was not kept: %q", v)
	}
	if html := get(t, ctx, chromedp.OuterHTML(`html`)); strings.Contains(html, apiKey) {
		t.Error("the result page shows the API key")
	}

	// The run log, from the tenant's page.
	steps(t, ctx, stepTimeout, "open the run log", chromedp.Click(`#result a[href*="/runs/"]`), chromedp.WaitVisible(`.facts`))
	if txt := get(t, ctx, chromedp.Text(`main`)); !strings.Contains(txt, "create-contact") || !strings.Contains(txt, "ok") || !strings.Contains(txt, contact) {
		t.Errorf("the run log shows %q", txt)
	}

	// The connect page, with a token minted at the click.
	steps(t, ctx, stepTimeout, "connect another account", chromedp.Navigate(e.URL+"/console/tenants/"+tenant),
		chromedp.Click(`a[href*="/connect?connector=crm"]`), chromedp.WaitVisible(`input[name="/credentials/apiKey"]`))
	if loc := get(t, ctx, chromedp.Location()); loc != e.URL+"/connect" {
		t.Errorf("the connect page is at %q; its token must be gone from the URL", loc)
	}
	e.noLeaks()
}

// The open page shows a new diagnostic and a new action as soon as the
// development server publishes a reload, without being reloaded: what was
// typed in a form stays.
func TestBrowserLiveUpdate(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, envOptions{open: true})
	e.listen()
	steps(t, ctx, stepTimeout, "open the console", chromedp.Navigate(e.URL+"/console/"), chromedp.WaitVisible(`#diagnostics .none`),
		chromedp.SendKeys(`#open-tenant`, "typed-before"))
	// The script has subscribed once the stream is open.
	deadline := time.Now().Add(stepTimeout)
	for e.source.subscribers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the page never opened its event stream")
		}
		time.Sleep(10 * time.Millisecond)
	}

	const msg = "unknown key \"bsaeUrl\"; did you mean \"baseUrl\"?"
	start := time.Now()
	e.source.publish(console.Status{OK: false, Files: 4, Diagnostics: diag.List{{
		Pos: diag.Pos{File: "connectors/crm/connector.yaml", Line: 5, Col: 1}, Severity: diag.Error, Rule: "schema", Message: msg}}})
	steps(t, ctx, stepTimeout, "see the diagnostic", chromedp.WaitVisible(`#diagnostics .diag-error`))
	t.Logf("the diagnostic showed %v after it was published", time.Since(start).Round(time.Millisecond))
	screenshot(t, ctx, "1-diagnostic")
	if txt := get(t, ctx, chromedp.Text(`#diagnostics`)); !strings.Contains(txt, msg) || !strings.Contains(txt, "connectors/crm/connector.yaml:5:1") {
		t.Errorf("the diagnostics show %q", txt)
	}
	if txt := get(t, ctx, chromedp.Text(`#status`)); !strings.Contains(txt, "generation 1") || !strings.Contains(txt, "still served") {
		t.Errorf("the status line shows %q", txt)
	}
	if v := get(t, ctx, chromedp.Value(`#open-tenant`)); v != "typed-before" {
		t.Fatalf("the page was reloaded: the form holds %q", v)
	}

	// The file is fixed and an action added: the server swaps the
	// workspace, then the reloader publishes.
	e.addAction("list-contacts", `kind: Action
connector: crm
key: list-contacts
name: List contacts
request: {method: GET, path: /contacts}
output:
  records: ${ response.body }
`)
	start = time.Now()
	e.source.publish(console.Status{OK: true, Files: 5})
	steps(t, ctx, stepTimeout, "see the new action", chromedp.WaitVisible(`#catalog a[href$="/actions/list-contacts"]`),
		chromedp.WaitVisible(`#diagnostics .none`))
	t.Logf("the new action showed %v after it was published", time.Since(start).Round(time.Millisecond))
	screenshot(t, ctx, "2-new-action")
	if v := get(t, ctx, chromedp.Value(`#open-tenant`)); v != "typed-before" {
		t.Errorf("the page was reloaded: the form holds %q", v)
	}
	e.noLeaks()
}
