package layers

import (
	"fmt"
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
	diags = append(diags, checkAuthModes(ws)...)
	diags.Sort()
	return diags
}

// checkAuthModes resolves every action and event of a connector with
// several auth modes under each mode but the first: their expressions
// are type-checked against the first mode's credentials when the
// workspace loads, and a connection made in another mode runs them
// against its own (credentials.botToken in a mode that only has an
// accessToken). What only a mode breaks is reported once, naming it.
func checkAuthModes(ws *spec.Workspace) diag.List {
	var diags diag.List
	for _, key := range slices.Sorted(maps.Keys(ws.Connectors)) {
		c := ws.Connectors[key]
		if len(c.AuthModes) < 2 {
			continue
		}
		actions := slices.Sorted(maps.Keys(ws.Actions[key]))
		events := slices.Sorted(maps.Keys(ws.Events[key]))
		base := map[string]bool{}
		for _, k := range actions {
			if !ws.ContractBroken(ws.Actions[key][k]) {
				_, d := ResolveAction(ws, key, k)
				markSeen(base, d)
			}
		}
		for _, k := range events {
			if !eventContractBroken(ws, ws.Events[key][k]) {
				_, d := ResolveEvent(ws, key, k)
				markSeen(base, d)
			}
		}
		for _, mode := range c.AuthModes[1:] {
			o := &spec.ConnectionOverride{Connector: key, AuthMode: mode.ModeKey()}
			report := func(d diag.List) {
				for _, x := range d {
					if x.Severity != diag.Error || base[seenKey(x)] {
						continue
					}
					base[seenKey(x)] = true // once, under the first mode that breaks it
					x.Message += fmt.Sprintf(" (in auth mode %q, whose credentials differ from the first mode's; read a field one mode lacks through dyn(credentials).?field)", mode.ModeKey())
					diags = append(diags, x)
				}
			}
			for _, k := range actions {
				if !ws.ContractBroken(ws.Actions[key][k]) {
					_, d := ResolveAction(ws, key, k, o)
					report(d)
				}
			}
			for _, k := range events {
				if !eventContractBroken(ws, ws.Events[key][k]) {
					_, d := ResolveEvent(ws, key, k, o)
					report(d)
				}
			}
		}
	}
	return diags
}

func markSeen(seen map[string]bool, d diag.List) {
	for _, x := range d {
		seen[seenKey(x)] = true
	}
}

func seenKey(d diag.Diagnostic) string { return d.Pos.String() + "\x00" + d.Rule + "\x00" + d.Message }

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
