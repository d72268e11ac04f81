package connectors_test

import (
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events/local"
	"net/url"
	"strings"
	"testing"
)

// testInvoices runs the invoice actions against stripe-mock, which checks
// each request against Stripe's own OpenAPI description and answers with
// its fixtures (it keeps no state: an id it is given comes back in them).
func testInvoices(t *testing.T, s *stripe, covered map[string]bool) {
	t.Run("list-invoices", func(t *testing.T) {
		covered["list-invoices"] = true
		out, log := s.mustRunOwn(t, "list-invoices", map[string]any{"customerId": "cus_Inv123", "status": "open"})
		items, _ := out["items"].([]any)
		if len(items) == 0 {
			t.Fatalf("no invoice listed: %v", out)
		}
		inv := items[0].(map[string]any)
		if id, _ := inv["id"].(string); !strings.HasPrefix(id, "in_") {
			t.Errorf("first invoice %v", inv)
		}
		u, _ := url.Parse(log[0].URL)
		if q := u.Query(); q.Get("customer") != "cus_Inv123" || q.Get("status") != "open" || q.Get("limit") != "100" {
			t.Errorf("query %v", q)
		}
	})

	t.Run("get-invoice", func(t *testing.T) {
		covered["get-invoice"] = true
		out, log := s.mustRunOwn(t, "get-invoice", map[string]any{"id": "in_Get123"})
		if out["id"] != "in_Get123" || one(t, log).URL != s.baseURL+"/v1/invoices/in_Get123" {
			t.Errorf("output %v", out)
		}
		if _, ok := out["lines"].([]any); !ok {
			t.Errorf("no lines: %v", out)
		}
	})

	t.Run("create-invoice", func(t *testing.T) {
		covered["create-invoice"] = true
		out, log := s.mustRunOwn(t, "create-invoice", map[string]any{
			"customerId": "cus_Inv123", "currency": "eur", "daysUntilDue": 14, "description": "November",
			"lines": []any{map[string]any{"amount": 2000, "description": "Seat licence"}, map[string]any{"amount": 500}},
		})
		if len(log) != 3 || log[0].URL != s.baseURL+"/v1/invoices" || log[1].URL != s.baseURL+"/v1/invoiceitems" {
			t.Fatalf("requests: %d", len(log))
		}
		if got := form(t, log[0].RequestBody); got.Get("collection_method") != "send_invoice" || got.Get("days_until_due") != "14" || got.Get("pending_invoice_items_behavior") != "exclude" {
			t.Errorf("invoice form %v", got)
		}
		inv, _ := out["id"].(string)
		if got := form(t, log[2].RequestBody); got.Get("invoice") != inv || got.Get("amount") != "500" || got.Has("description") {
			t.Errorf("second line form %v (invoice %s)", got, inv)
		}
		if ids, _ := out["lineIds"].([]any); len(ids) != 2 {
			t.Errorf("line ids %v", out["lineIds"])
		}
	})

	t.Run("finalize-invoice", func(t *testing.T) {
		covered["finalize-invoice"] = true
		out, log := s.mustRunOwn(t, "finalize-invoice", map[string]any{"id": "in_Fin123", "send": true})
		if len(log) != 2 || log[0].URL != s.baseURL+"/v1/invoices/in_Fin123/finalize" || log[1].URL != s.baseURL+"/v1/invoices/in_Fin123/send" {
			t.Fatalf("requests %d", len(log))
		}
		if out["id"] != "in_Fin123" {
			t.Errorf("output %v", out)
		}
	})
}

// mustRunOwn runs a Stripe action of its own (no universal contract) that
// must succeed; the engine checks its output against the action's schema.
func (s *stripe) mustRunOwn(t *testing.T, action string, input any) (map[string]any, []engine.Exchange) {
	t.Helper()
	res, err := s.run(t, action, input)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	out, ok := res.Output.(map[string]any)
	if !ok {
		t.Fatalf("%s: output %T, want an object", action, res.Output)
	}
	for _, x := range res.Log {
		if x.Status >= 400 {
			t.Errorf("%s: stripe-mock answered %d to %s %s: %s", action, x.Status, x.Method, x.URL, x.ResponseBody)
		}
	}
	return out, res.Log
}

// TestStripeInvoicePolling polls invoice-changed against stripe-mock: the
// event log request is one Stripe accepts, and its fixture event becomes
// a change whose record has every field the event declares.
func TestStripeInvoicePolling(t *testing.T) {
	baseURL := startStripeMock(t)
	st, err := local.Open(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s := newStripe(t, baseURL)
	res, _ := pollStripeEvent(t, s, st, "invoice-changed", false)
	if len(res.Log.Log) == 0 {
		t.Fatal("no request")
	}
	u, _ := url.Parse(res.Log.Log[0].URL)
	if q := u.Query(); q.Get("type") != "invoice.*" || q.Get("limit") != "100" {
		t.Errorf("query %v", q)
	}
}
