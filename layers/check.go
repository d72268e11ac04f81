package layers

import (
	"maps"
	"slices"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// Check resolves every action and every event an override file of the
// workspace patches, so that an override that breaks a contract or a
// schema is reported when the workspace is validated, not when a
// connection first runs it.
func Check(ws *spec.Workspace) diag.List {
	var diags diag.List
	for _, o := range ws.Overrides {
		if ws.Connectors[o.Connector] == nil {
			continue // reported by spec
		}
		keys := make([]string, 0, len(o.Actions))
		for k := range o.Actions {
			if a := ws.Action(o.Connector, k); a != nil && !ws.ContractBroken(a) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			_, d := ResolveAction(ws, o.Connector, k, o)
			diags = append(diags, d...)
		}
		events := make([]string, 0, len(o.Events))
		for k := range o.Events {
			// An unknown event is reported by spec.
			if e := ws.Event(o.Connector, k); e != nil && !eventContractBroken(ws, e) {
				events = append(events, k)
			}
		}
		slices.Sort(events)
		for _, k := range events {
			_, d := ResolveEvent(ws, o.Connector, k, o)
			diags = append(diags, d...)
		}
		if len(keys) == 0 && len(events) == 0 && o.ConnectorPatch != nil {
			// A connector-only patch still has to give a valid connector
			// (its URLs within the host policy too), actions or not.
			if a := anyAction(ws, o.Connector); a != "" {
				_, d := ResolveAction(ws, o.Connector, a, o)
				diags = append(diags, d...)
			} else {
				_, d := ResolveConnector(ws, o.Connector, o)
				diags = append(diags, d...)
			}
		}
	}
	diags.Sort()
	return diags
}

// anyAction returns the first action of a connector whose contract is
// known, or "".
func anyAction(ws *spec.Workspace, connector string) string {
	for _, k := range slices.Sorted(maps.Keys(ws.Actions[connector])) {
		if !ws.ContractBroken(ws.Actions[connector][k]) {
			return k
		}
	}
	return ""
}
