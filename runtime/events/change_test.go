package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestChangeIDStableAndDistinct(t *testing.T) {
	a := ChangeID("conn_1", "contact-changed", "42", "2026-01-01")
	if a != ChangeID("conn_1", "contact-changed", "42", "2026-01-01") {
		t.Fatal("same inputs gave two ids")
	}
	if !strings.HasPrefix(a, "chg_") || len(a) != 30 {
		t.Fatalf("id %q is not chg_ + 26 characters", a)
	}
	for _, other := range []string{
		ChangeID("conn_2", "contact-changed", "42", "2026-01-01"),
		ChangeID("conn_1", "deal-changed", "42", "2026-01-01"),
		ChangeID("conn_1", "contact-changed", "43", "2026-01-01"),
		ChangeID("conn_1", "contact-changed", "42", "2026-01-02"),
		ChangeID("conn_1", "contact-changed4", "2", "2026-01-01"),
	} {
		if other == a {
			t.Fatalf("different inputs share id %s", a)
		}
	}
}

func TestOutboxEventPayload(t *testing.T) {
	src := Source{Tenant: "acme", ConnectionID: "conn_1", Connector: "hubspot", Event: "contact-updated", TypeKey: "contact-changed", SubscriptionID: "sub_1"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e, err := src.OutboxEvent(Change{Type: Created, RecordID: "7", Version: "v1", Record: map[string]any{"id": "7"}}, at)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "contact-changed.created" || e.Tenant != "acme" || e.ID != ChangeID("conn_1", "contact-updated", "7", "v1") {
		t.Fatalf("event = %+v", e)
	}
	var p map[string]any
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"id": e.ID, "type": e.Type, "tenant": "acme", "connection": "conn_1", "connector": "hubspot",
		"event": "contact-updated", "subscription": "sub_1", "change": "created", "recordId": "7", "detectedAt": "2026-01-02T03:04:05Z"} {
		if p[k] != want {
			t.Errorf("payload[%s] = %v, want %v", k, p[k], want)
		}
	}
	if r, _ := p["record"].(map[string]any); r["id"] != "7" {
		t.Errorf("payload record = %v", p["record"])
	}
}
