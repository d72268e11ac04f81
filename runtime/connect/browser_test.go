package connect_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/runtime/store"
)

// A user connects an API-key app in a real browser: an empty form shows
// the required-field errors by their fields, a wrong key the API's
// refusal, and the right key lands on the app's returnUrl with the new
// connection's id.
func TestBrowserAPIKey(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, envOptions{})
	const (
		submit = `button[type=submit]`
		key    = `input[name="/credentials/apiKey"]`
		region = `select[name="/parameters/region"]`
		label  = `input[name="/parameters/label"]`
	)
	steps(t, ctx, "open the link", chromedp.Navigate(e.link(e.token(), "keyed", e.app.URL+"/integrations/done?from=connect")), chromedp.WaitVisible(submit))
	if loc := get(t, ctx, chromedp.Location()); loc != e.page.URL+"/connect" {
		t.Fatalf("the page is at %q; the token must be gone from the URL", loc)
	}
	if title := get(t, ctx, chromedp.Title()); title != "Connect Keyed API" {
		t.Errorf("title %q", title)
	}
	screenshot(t, ctx, "1-form")

	steps(t, ctx, "submit the empty form", chromedp.Click(submit), chromedp.WaitVisible(`.error-summary`))
	screenshot(t, ctx, "2-required")
	if inv := get(t, ctx, chromedp.AttributeValue(key, "aria-invalid")); inv.Value != "true" {
		t.Errorf("the API key field is not aria-invalid")
	}
	desc := get(t, ctx, chromedp.AttributeValue(key, "aria-describedby")).Value
	if !strings.HasSuffix(desc, "-error") {
		t.Fatalf("the API key field is described by %q, not by its error", desc)
	}
	errID := desc[strings.LastIndexByte(desc, ' ')+1:]
	if txt := get(t, ctx, chromedp.Text("#"+errID)); !strings.Contains(txt, "API key is required.") {
		t.Errorf("the API key's error says %q", txt)
	}
	// Next to the field: in the same block as its input.
	if txt := get(t, ctx, chromedp.Text(`.field.invalid:has(`+key+`) .error`)); !strings.Contains(txt, "API key is required.") {
		t.Errorf("the error by the API key field says %q", txt)
	}
	if txt := get(t, ctx, chromedp.Text(`.field.invalid:has(`+region+`) .error`)); !strings.Contains(txt, "Choose region.") {
		t.Errorf("the error by the region says %q", txt)
	}

	steps(t, ctx, "submit a wrong key",
		chromedp.SetValue(region, "0"),
		chromedp.SendKeys(label, "Main account"),
		chromedp.SendKeys(key, badKey),
		chromedp.Click(submit),
		chromedp.WaitVisible(`.form-error`))
	screenshot(t, ctx, "3-refused")
	if txt := get(t, ctx, chromedp.Text(`.form-error`)); !strings.Contains(txt, "Keyed API did not accept these credentials") {
		t.Errorf("the refusal says %q", txt)
	}
	if v := get(t, ctx, chromedp.Value(key)); v != "" {
		t.Errorf("the API key was echoed back into the form")
	}
	if v := get(t, ctx, chromedp.Value(label)); v != "Main account" {
		t.Errorf("the label typed was not kept: %q", v)
	}
	if v := get(t, ctx, chromedp.Value(region)); v != "0" {
		t.Errorf("the region chosen was not kept: %q", v)
	}

	steps(t, ctx, "submit the right key", chromedp.SendKeys(key, goodKey), chromedp.Click(submit), chromedp.WaitVisible(`#back-in-app`))
	loc, err := url.Parse(get(t, ctx, chromedp.Location()))
	if err != nil || loc.Host != strings.TrimPrefix(e.app.URL, "http://") || loc.Path != "/integrations/done" || loc.Query().Get("from") != "connect" {
		t.Fatalf("landed on %v", loc)
	}
	id := loc.Query().Get("connectionId")
	c, err := e.st.Tenant(tenant).Connections().Get(t.Context(), id)
	if err != nil {
		t.Fatalf("the connection %q of the returnUrl: %v", id, err)
	}
	if c.Connector != "keyed" || c.State != store.Connected || c.Credentials["apiKey"] != goodKey || c.Parameters["region"] != "eu" || c.Parameters["label"] != "Main account" {
		t.Errorf("connection %+v", c)
	}
	e.noLeaks(goodKey, badKey)
}

// A user connects an OAuth2 app in a real browser, through a real OAuth2
// server's /authorize, back to the callback and on to the app. Replaying
// the callback is refused, and so is a returnUrl of a foreign origin.
func TestBrowserOAuth(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, envOptions{oauthURL: startAuthServer(t).URL()})
	ret := e.app.URL + "/done"
	steps(t, ctx, "open the link", chromedp.Navigate(e.link(e.token(), "oauthy", ret)), chromedp.WaitVisible(`button[type=submit]`))
	if txt := get(t, ctx, chromedp.Text(`button[type=submit]`)); txt != "Continue to OAuthy" {
		t.Errorf("the button says %q", txt)
	}
	screenshot(t, ctx, "1-continue")
	steps(t, ctx, "consent", chromedp.Click(`button[type=submit]`), chromedp.WaitVisible(`#back-in-app`))
	loc, err := url.Parse(get(t, ctx, chromedp.Location()))
	if err != nil || !strings.HasPrefix(loc.String(), ret+"?") {
		t.Fatalf("landed on %v", loc)
	}
	id := loc.Query().Get("connectionId")
	c, err := e.st.Tenant(tenant).Connections().Get(t.Context(), id)
	if err != nil {
		t.Fatalf("the connection %q of the returnUrl: %v", id, err)
	}
	if c.Connector != "oauthy" || c.State != store.Connected || c.Token == nil || c.Token.AccessToken == "" || c.Token.RefreshToken == "" {
		t.Fatalf("connection %+v token %+v", c, c.Token)
	}

	var callback string
	for _, r := range e.served.All() {
		if strings.HasPrefix(r.URL, "/connect/callback?") {
			callback = e.page.URL + r.URL
		}
	}
	if callback == "" {
		t.Fatal("the provider never sent the browser to the callback")
	}
	// Replayed in a new session: the state was used, so the service refuses it.
	steps(t, ctx, "replay the callback", chromedp.Navigate(e.link(e.token(), "oauthy", ret)), chromedp.WaitVisible(`button[type=submit]`),
		chromedp.Navigate(callback), chromedp.WaitVisible(`#back-in-app`))
	loc, _ = url.Parse(get(t, ctx, chromedp.Location()))
	if loc.Query().Get("error") != "invalid_state" || loc.Query().Has("connectionId") {
		t.Errorf("a replayed callback landed on %v", loc)
	}
	// Replayed without any session: a page says it cannot complete.
	steps(t, ctx, "replay without a session", chromedp.Navigate(callback), chromedp.WaitVisible(`h1`))
	if txt := get(t, ctx, chromedp.Text(`main`)); !strings.Contains(txt, "Not connected") || !strings.Contains(txt, "invalid_state") {
		t.Errorf("a replayed callback without a session shows %q", txt)
	}
	if last := e.served.All(); last[len(last)-1].Status != http.StatusBadRequest {
		t.Errorf("a replayed callback without a session: %d, want 400", last[len(last)-1].Status)
	}

	// A foreign returnUrl: 400, saying which origin to allow where.
	steps(t, ctx, "a foreign returnUrl", chromedp.Navigate(e.link(e.token(), "oauthy", "https://evil.example/cb")), chromedp.WaitVisible(`pre`))
	screenshot(t, ctx, "2-foreign-origin")
	if txt := get(t, ctx, chromedp.Text(`main`)); !strings.Contains(txt, "https://evil.example") || !strings.Contains(txt, "returnOrigins: [https://evil.example]") {
		t.Errorf("the refusal says %q", txt)
	}
	if last := e.served.All(); last[len(last)-1].Status != http.StatusBadRequest {
		t.Errorf("a foreign returnUrl: %d, want 400", last[len(last)-1].Status)
	}
	e.noLeaks(c.Token.AccessToken, c.Token.RefreshToken)
}
