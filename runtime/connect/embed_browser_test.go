package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/runtime/store"
)

// embedApp is an app's page on an origin of its own that loads the
// connect button's script from the connect page's server. Its button
// calls Membrane.connect with a token its backend (GET /token) mints,
// and shows how it went in #result; every message the page receives is
// kept in window.received, whoever sent it.
type embedApp struct {
	*httptest.Server
}

func newEmbedApp(t *testing.T, e **env) *embedApp {
	a := &embedApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, (*e).token())
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>App</title>
<script src="%s/connect/embed.js"></script>
<button id="connect">Connect Keyed</button>
<pre id="result"></pre>
<script>
window.received = [];
addEventListener("message", (ev) => received.push({origin: ev.origin, data: ev.data}));
function show(v) { const r = document.getElementById("result"); r.textContent = JSON.stringify(v); r.className = "done"; }
document.getElementById("connect").onclick = () => {
  document.getElementById("result").className = "";
  const connector = new URLSearchParams(location.search).get("connector") || "keyed";
  Membrane.connect({ token: () => fetch("/token").then((r) => r.text()), connector })
    .then((c) => show({ connection: c }), (err) => show({ name: err.name, code: err.code, message: err.message }));
};
</script>`, (*e).page.URL)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

type embedResult struct {
	Connection *struct{ ID, Connector string }
	Name, Code string
	Message    string
}

// clickConnect clicks the app's button and returns the popup it opens.
func clickConnect(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opened := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return i.Type == "page" })
	steps(t, ctx, "click the connect button", chromedp.Click(`#connect`))
	id, ok := <-opened
	if !ok {
		t.Fatal("no popup opened")
	}
	return attach(t, ctx, id)
}

// attach returns a context for the popup id. Its first run attaches to
// the popup and carries no deadline, which would end the attachment.
func attach(t *testing.T, ctx context.Context, id target.ID) context.Context {
	t.Helper()
	pctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	if err := chromedp.Do(pctx); err != nil {
		t.Fatalf("attaching to the popup: %v", err)
	}
	return pctx
}

// resultOf waits for the app's button to say how it went.
func resultOf(t *testing.T, ctx context.Context) embedResult {
	t.Helper()
	steps(t, ctx, "wait for the outcome", chromedp.WaitVisible(`#result.done`))
	var r embedResult
	if err := json.Unmarshal([]byte(get(t, ctx, chromedp.Text(`#result`))), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// receivedFrom is what the app's page received from origin.
func receivedFrom(t *testing.T, ctx context.Context, origin string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range get(t, ctx, chromedp.Evaluate[[]struct {
		Origin string
		Data   map[string]any
	}](`received`)) {
		if m.Origin == origin {
			out = append(out, m.Data)
		}
	}
	return out
}

// A page on an allowed origin of its own loads embed.js, and its button
// opens the connect page in a popup: connecting there (with an API key,
// or through an OAuth2 server's consent) resolves the button's Promise
// with the connection; the popup's Cancel rejects it with access_denied,
// and closing the popup with closed.
func TestBrowserEmbed(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	var e *env
	app := newEmbedApp(t, &e)
	e = newEnv(t, envOptions{returnOrigins: []string{app.URL}, oauthURL: startAuthServer(t).URL()})
	const (
		submit = `button[type=submit]:not([name=cancel])`
		key    = `input[name="/credentials/apiKey"]`
		region = `select[name="/parameters/region"]`
	)

	steps(t, ctx, "open the app", chromedp.Navigate(app.URL+"/"), chromedp.WaitVisible(`#connect`))
	popup := clickConnect(t, ctx)
	steps(t, popup, "fill in the form in the popup", chromedp.WaitVisible(submit),
		chromedp.SetValue(region, "0"), chromedp.SendKeys(key, goodKey))
	if loc := get(t, popup, chromedp.Location()); loc != e.page.URL+"/connect" {
		t.Errorf("the popup is at %q; the token must be gone from the URL", loc)
	}
	screenshot(t, popup, "1-popup-form")
	steps(t, popup, "connect", chromedp.Click(submit))
	r := resultOf(t, ctx)
	if r.Connection == nil {
		t.Fatalf("the button's Promise was rejected: %+v", r)
	}
	c, err := e.st.Tenant(tenant).Connections().Get(t.Context(), r.Connection.ID)
	if err != nil {
		t.Fatalf("the connection %q the Promise resolved with: %v", r.Connection.ID, err)
	}
	if c.Connector != "keyed" || r.Connection.Connector != "keyed" || c.State != store.Connected || c.Credentials["apiKey"] != goodKey {
		t.Errorf("connection %+v, resolved with %+v", c, r.Connection)
	}
	if got := receivedFrom(t, ctx, strings.TrimSuffix(e.page.URL, "/")); len(got) != 1 || got[0]["type"] != "membrane.connect" {
		t.Errorf("the app received %v from the connect page, want one membrane.connect message", got)
	}

	// Through the provider's consent: the popup goes to the OAuth2
	// server and back to the callback, whose page answers the app.
	steps(t, ctx, "open the app for an OAuth2 connector", chromedp.Navigate(app.URL+"/?connector=oauthy"), chromedp.WaitVisible(`#connect`))
	popup = clickConnect(t, ctx)
	steps(t, popup, "consent in the popup", chromedp.WaitVisible(submit), chromedp.Click(submit))
	r = resultOf(t, ctx)
	if r.Connection == nil || r.Connection.Connector != "oauthy" {
		t.Fatalf("connecting through OAuth2 in the popup gave %+v", r)
	}
	if c, err := e.st.Tenant(tenant).Connections().Get(t.Context(), r.Connection.ID); err != nil || c.State != store.Connected || c.Token == nil {
		t.Fatalf("the OAuth2 connection %q: %+v, %v", r.Connection.ID, c, err)
	}

	popup = clickConnect(t, ctx)
	steps(t, popup, "cancel in the popup", chromedp.WaitVisible(`button[name=cancel]`), chromedp.Click(`button[name=cancel]`))
	if r := resultOf(t, ctx); r.Connection != nil || r.Name != "MembraneConnectError" || r.Code != "access_denied" || r.Message != "The user cancelled connecting." {
		t.Errorf("cancelling in the popup gave %+v", r)
	}

	popup = clickConnect(t, ctx)
	steps(t, popup, "close the popup", chromedp.WaitVisible(submit))
	// As the user closes it.
	if err := chromedp.Cancel(popup); err != nil {
		t.Fatalf("closing the popup: %v", err)
	}
	if r := resultOf(t, ctx); r.Connection != nil || r.Code != "closed" {
		t.Errorf("closing the popup gave %+v", r)
	}
	e.noLeaks(goodKey)
}

// A page on an origin that connect.returnOrigins does not name gets
// nothing: the popup says which origin to allow and posts nothing, and a
// page that names an allowed origin as its opener (it is not on it)
// receives nothing either, as the browser holds the message to that
// origin.
func TestBrowserEmbedOtherOrigin(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	var e *env
	allowed := newEmbedApp(t, &e)
	other := newEmbedApp(t, &e)
	e = newEnv(t, envOptions{returnOrigins: []string{allowed.URL}})
	membrane := strings.TrimSuffix(e.page.URL, "/")

	steps(t, ctx, "open the app on another origin", chromedp.Navigate(other.URL+"/"), chromedp.WaitVisible(`#connect`))
	popup := clickConnect(t, ctx)
	steps(t, popup, "the popup's refusal", chromedp.WaitVisible(`pre`))
	screenshot(t, popup, "1-origin-not-allowed")
	if txt := get(t, popup, chromedp.Text(`main`)); !strings.Contains(txt, other.URL) || !strings.Contains(txt, "returnOrigins: ["+other.URL+"]") {
		t.Errorf("the refusal says %q", txt)
	}
	if r := resultOf(t, ctx); r.Connection != nil || r.Code != "closed" {
		t.Errorf("a page on another origin got %+v", r)
	}
	if got := receivedFrom(t, ctx, membrane); len(got) != 0 {
		t.Errorf("a page on another origin received %v", got)
	}

	// The page opens the connect page itself, naming the allowed origin
	// as the opener: the popup posts to that origin, which is not this
	// page's, so the browser delivers nothing.
	link := e.link(e.token(), "keyed", "", "opener", allowed.URL)
	opened := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return i.Type == "page" })
	// As from a click: a popup needs a user gesture.
	yes := true
	gesture := func(p *runtime.EvaluateParams) { p.UserGesture = &yes }
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`window.open(%q, "_blank", "popup") !== null`, link), gesture)); err != nil || !ok {
		t.Fatalf("opening a popup with another opener: %v %v", ok, err)
	}
	popup = attach(t, ctx, <-opened)
	steps(t, popup, "cancel in the popup", chromedp.WaitVisible(`button[name=cancel]`), chromedp.Click(`button[name=cancel]`),
		chromedp.WaitReady(`#membrane-connect-result[data-posted]`))
	origin := get(t, popup, chromedp.AttributeValue(`#membrane-connect-result`, "data-origin"))
	if origin.Value != allowed.URL {
		t.Fatalf("the popup posts to %q, want %q", origin.Value, allowed.URL)
	}
	// opener.js has posted: the browser drops a message whose
	// targetOrigin is not the receiver's as it is posted, so none is on
	// its way.
	if got := receivedFrom(t, ctx, membrane); len(got) != 0 {
		t.Errorf("a page that is not on the opener origin received %v", got)
	}
	e.noLeaks()
}
