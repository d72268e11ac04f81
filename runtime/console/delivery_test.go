package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membrane-dev/membrane/runtime/store"
)

const whsec = "whsec_c2VjcmV0LW9mLXRoZS1iYWNrZW5kLTAxMjM0NTY3ODk="

// deadLetter makes a destination and an event of the tenant whose one
// delivery to it failed for good, as the workers leave them; it returns
// the destination's id and the event's.
func (e *env) deadLetter() (dst, event string) {
	e.t.Helper()
	ctx, st := e.t.Context(), e.srv.Store
	d, err := st.Destinations().Create(ctx, store.Destination{Name: "backend", Kind: "webhook", URL: "https://backend.example/hooks?key=abc",
		Secret: whsec, Status: "active"})
	if err != nil {
		e.t.Fatal(err)
	}
	event = "evt_console_1"
	if err := st.Tenant(tenant).Outbox().Enqueue(ctx, store.Event{ID: event, Type: "connection.created", Payload: json.RawMessage(`{}`)}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := st.Deliveries().Route(ctx, 10, func(*store.Event) []string { return []string{d.ID} }); err != nil {
		e.t.Fatal(err)
	}
	tasks, err := st.Deliveries().Claim(ctx, "test", 10, time.Minute, nil)
	if err != nil || len(tasks) != 1 {
		e.t.Fatalf("claimed %d: %v", len(tasks), err)
	}
	if err := st.Deliveries().Record(ctx, "test", store.Attempt{EventID: event, Destination: d.ID, Tenant: tenant, Attempt: 1, At: time.Now(),
		Status: 503, Latency: 40 * time.Millisecond, Error: "the destination answered 503", Excerpt: "upstream overloaded"}, store.Outcome{Dead: true}); err != nil {
		e.t.Fatal(err)
	}
	return d.ID, event
}

// An operator finds a failing destination, its dead letter and the
// delivery log of its event, and replays it, in a real browser.
func TestBrowserReplayDeadLetter(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, envOptions{open: true})
	e.listen()
	dst, event := e.deadLetter()

	steps(t, ctx, stepTimeout, "open the destinations", chromedp.Navigate(e.URL+"/console/"),
		chromedp.Click(`nav a[href="/console/destinations"]`), chromedp.WaitVisible(`table.destinations`))
	screenshot(t, ctx, "1-destinations")
	row := get(t, ctx, chromedp.Text(`#dst-backend`))
	for _, want := range []string{"backend", "active", dst, "UTC"} {
		if !strings.Contains(row, want) {
			t.Errorf("the destination's row lacks %q: %s", want, row)
		}
	}
	if strings.Contains(row, "key=abc") {
		t.Errorf("the row shows the URL's query: %s", row)
	}
	if txt := get(t, ctx, chromedp.Text(`#dst-backend .failing`)); !strings.Contains(txt, "UTC") {
		t.Errorf("failing since %q", txt)
	}

	steps(t, ctx, stepTimeout, "open its dead letters", chromedp.Click(`#dst-backend a[href*="/deliveries?destination="]`),
		chromedp.WaitVisible(`table.dead-letters`))
	screenshot(t, ctx, "2-dead-letters")
	if txt := get(t, ctx, chromedp.Text(`table.dead-letters`)); !strings.Contains(txt, event) || !strings.Contains(txt, "HTTP 503") {
		t.Errorf("the dead letters show %q", txt)
	}

	steps(t, ctx, stepTimeout, "open the delivery log", chromedp.Click(`table.dead-letters a[href="/console/deliveries/`+event+`"]`),
		chromedp.WaitVisible(`table.attempts`))
	if txt := get(t, ctx, chromedp.Text(`table.attempts`)); !strings.Contains(txt, "HTTP 503") || !strings.Contains(txt, "upstream overloaded") {
		t.Errorf("the delivery log shows %q", txt)
	}
	if txt := get(t, ctx, chromedp.Text(`table.delivery-states`)); !strings.Contains(txt, "dead") {
		t.Errorf("the event's deliveries show %q", txt)
	}

	steps(t, ctx, stepTimeout, "replay it", chromedp.NavigateBack(), chromedp.WaitVisible(`table.dead-letters`),
		chromedp.Click(`form.replay button`), chromedp.WaitVisible(`.replayed`))
	screenshot(t, ctx, "3-replayed")
	if txt := get(t, ctx, chromedp.Text(`.replayed`)); !strings.Contains(txt, event) || !strings.Contains(txt, "1 delivery sent again") {
		t.Errorf("the replay says %q", txt)
	}
	if txt := get(t, ctx, chromedp.Text(`main`)); strings.Contains(txt, "HTTP 503") {
		t.Errorf("the replayed delivery is still a dead letter: %s", txt)
	}
	page, err := e.srv.Store.Deliveries().List(t.Context(), store.DeliveryFilter{EventID: event})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].Status != store.Pending || page.Items[0].Attempts != 0 {
		t.Fatalf("after the replay: %+v", page.Items)
	}
	e.noLeaks(whsec)
}

// The delivery pages' forms take the CSRF token; disabling and enabling a
// destination work from its row.
func TestDeliveryForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{open: true})
	dst, event := e.deadLetter()
	c := client()
	r := e.do(c, "GET", "/console/deliveries", nil)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, event) {
		t.Fatalf("dead letters: %d\n%s", r.StatusCode, r.body)
	}
	csrf := csrfOf(t, r.body)
	form := url.Values{"event": {event}, "destination": {dst}}
	if r := e.do(c, "POST", "/console/deliveries/replay", form); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a replay without the CSRF token: %d", r.StatusCode)
	}
	if page, _ := e.srv.Store.Deliveries().List(t.Context(), store.DeliveryFilter{Status: store.Dead}); len(page.Items) != 1 {
		t.Fatal("a refused form replayed")
	}
	if r := e.do(c, "POST", "/console/deliveries/replay", with(form, "event", "evt_nope", "csrf", csrf)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("a replay of an unknown event: %d", r.StatusCode)
	}
	r = e.do(c, "POST", "/console/destinations/"+dst+"/disable", url.Values{"csrf": {csrf}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", r.StatusCode, r.body)
	}
	r = e.do(c, "GET", "/console/destinations", nil)
	if !strings.Contains(r.body, "disabled in the console") || !strings.Contains(r.body, ">Enable<") {
		t.Fatalf("after disable:\n%s", r.body)
	}
	if r := e.do(c, "POST", "/console/destinations/"+dst+"/enable", url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", r.StatusCode)
	}
	if d, _ := e.srv.Store.Destinations().Get(t.Context(), dst); d.Status != "active" || !d.FailingSince.IsZero() {
		t.Fatalf("after enable: %+v", d)
	}
	if r := e.do(c, "GET", "/console/deliveries/evt_nope", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("the log of an unknown event: %d", r.StatusCode)
	}
	e.noLeaks(whsec)
}
