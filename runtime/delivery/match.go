package delivery

import (
	"fmt"
	"slices"
	"strings"

	"github.com/membrane-dev/membrane/runtime/store"
)

// TypeMatches says whether an event type matches a destination's pattern:
// "*" matches every type, "prefix.*" every type starting with "prefix.",
// anything else only itself.
func TypeMatches(pattern, typ string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasSuffix(pattern, ".*"):
		return strings.HasPrefix(typ, pattern[:len(pattern)-1])
	}
	return pattern == typ
}

// CheckPattern refuses an event type pattern TypeMatches would not read as
// meant: a "*" anywhere but alone or after the last dot.
func CheckPattern(p string) error {
	if p == "" {
		return fmt.Errorf("event pattern is empty: use \"*\" for every event, \"connection.*\" for a family, or an exact type")
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && p != "*" && (i != len(p)-1 || !strings.HasSuffix(p, ".*") || len(p) < 3) {
		return fmt.Errorf("event pattern %q: a * stands only alone or as the last part (\"connection.*\")", p)
	}
	return nil
}

// Matches says whether a destination takes an event: it is active, and
// the event's type, connector and tenant pass its filters (an empty filter
// passes everything).
func Matches(d *store.Destination, e *store.Event) bool {
	if d.Status != "" && d.Status != store.DestinationActive {
		return false
	}
	if len(d.EventTypes) > 0 && !slices.ContainsFunc(d.EventTypes, func(p string) bool { return TypeMatches(p, e.Type) }) {
		return false
	}
	if len(d.Connectors) > 0 && !slices.Contains(d.Connectors, e.Connector) {
		return false
	}
	if len(d.Tenants) > 0 && !slices.Contains(d.Tenants, e.Tenant) {
		return false
	}
	return true
}

// matcher is the Route callback over a snapshot of the destinations.
func matcher(ds []*store.Destination) func(e *store.Event) []string {
	return func(e *store.Event) []string {
		var ids []string
		for _, d := range ds {
			if Matches(d, e) {
				ids = append(ids, d.ID)
			}
		}
		return ids
	}
}
