package delivery

import (
	"slices"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/runtime/store"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, typ string
		want         bool
	}{
		{"*", "anything.at.all", true},
		{"connection.*", "connection.created", true},
		{"connection.*", "connection.a.b", true},
		{"connection.*", "connection", false},
		{"connection.*", "connections.created", false},
		{"contact-changed.created", "contact-changed.created", true},
		{"contact-changed.created", "contact-changed.updated", false},
	} {
		if got := TypeMatches(c.pattern, c.typ); got != c.want {
			t.Errorf("%q ~ %q = %v", c.pattern, c.typ, got)
		}
	}
	for p, ok := range map[string]bool{"*": true, "a.*": true, "a.b": true, "": false, "a*": false, "*.b": false, "a.*.c": false, ".*": false} {
		if (CheckPattern(p) == nil) != ok {
			t.Errorf("CheckPattern(%q) = %v", p, CheckPattern(p))
		}
	}
	ds := []*store.Destination{
		{ID: "all", Status: store.DestinationActive},
		{ID: "conn", Status: store.DestinationActive, EventTypes: []string{"connection.*"}},
		{ID: "hub-acme", Status: store.DestinationActive, Connectors: []string{"hubspot"}, Tenants: []string{"acme"}},
		{ID: "off", Status: store.DestinationDisabled},
	}
	m := matcher(ds)
	for _, c := range []struct {
		e    store.Event
		want []string
	}{
		{store.Event{Type: "connection.created", Tenant: "acme", Connector: "hubspot"}, []string{"all", "conn", "hub-acme"}},
		{store.Event{Type: "contact.created", Tenant: "globex", Connector: "hubspot"}, []string{"all"}},
		{store.Event{Type: "contact.created", Tenant: "acme", Connector: "stripe"}, []string{"all"}},
	} {
		if got := m(&c.e); !slices.Equal(got, c.want) {
			t.Errorf("%+v → %v, want %v", c.e, got, c.want)
		}
	}
}

func TestOutcome(t *testing.T) {
	d, err := New(Config{Store: nil})
	if err == nil || d != nil {
		t.Fatal("New without a store")
	}
	d = &Deliverer{cfg: Config{Schedule: DefaultSchedule}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for n := 1; n < len(DefaultSchedule); n++ {
		o := d.outcome(n, result{Err: errTest}, now)
		w := DefaultSchedule[n]
		lo, hi := now.Add(time.Duration(float64(w)*(1-Jitter))), now.Add(time.Duration(float64(w)*(1+Jitter)))
		if o.Dead || o.Delivered || o.Next.Before(lo) || o.Next.After(hi) {
			t.Errorf("after attempt %d: %+v, want in [%s, %s]", n, o, lo, hi)
		}
	}
	if o := d.outcome(len(DefaultSchedule), result{Err: errTest}, now); !o.Dead {
		t.Errorf("after the last attempt: %+v", o)
	}
	if o := d.outcome(1, result{Err: errTest, Gone: true}, now); !o.Dead {
		t.Errorf("410: %+v", o)
	}
	if o := d.outcome(2, result{Err: errTest, RetryAfter: 3 * time.Hour}, now); !o.Next.Equal(now.Add(3 * time.Hour)) {
		t.Errorf("Retry-After 3h over 5m: %+v", o)
	}
	if o := d.outcome(6, result{Err: errTest, RetryAfter: time.Minute}, now); o.Next.Before(now.Add(8 * time.Hour)) {
		t.Errorf("a short Retry-After lowers the wait: %+v", o)
	}
	if o := d.outcome(3, result{Status: 200}, now); !o.Delivered {
		t.Errorf("2xx: %+v", o)
	}
}

var errTest = errorString("HTTP 500")

type errorString string

func (e errorString) Error() string { return string(e) }
