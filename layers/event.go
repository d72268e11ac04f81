package layers

import (
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// Event is an event resolved through its layers, ready to poll or to
// receive webhooks. Its documents keep, node by node, the layer and place
// each field came from.
type Event struct {
	Connector *spec.Connector
	Event     *spec.Event
	// Universal is the contract the event implements, or nil.
	Universal *spec.UniversalEvent
	// Record is the effective record schema: the universal contract
	// extended by the integration and connection layers.
	Record *tree.Value
	// ConnectorDoc and Doc are the merged documents, for explain.
	ConnectorDoc, Doc *tree.Value
	// CompiledConnector and Compiled hold the compiled expressions.
	CompiledConnector *compile.Connector
	Compiled          *compile.Event
}

// FindEvent returns a connector's event by its own key, or the one that
// implements the universal event of that key.
func FindEvent(ws *spec.Workspace, connector, name string) *spec.Event {
	return find(ws.Events[connector], name, eventImplements)
}

func eventImplements(e *spec.Event) string { return e.Implements }

// ResolveEvent merges a connector's event with the universal contract it
// implements and the connection overrides given (their `events` patches,
// applied in order), checks that the result still keeps the contract, and
// compiles its expressions.
func ResolveEvent(ws *spec.Workspace, connector, name string, overrides ...*spec.ConnectionOverride) (*Event, diag.List) {
	e, diags := lookup(ws, connector, "event", name, ws.Events[connector], eventImplements)
	if e == nil {
		return nil, diags
	}
	r := &Event{}
	if e.Implements != "" {
		r.Universal = ws.UniversalEvents[e.Implements]
	}
	rc, d := ResolveConnector(ws, connector, overrides...)
	diags = append(diags, d...)
	if rc == nil {
		return nil, diags
	}
	r.Connector, r.ConnectorDoc, r.CompiledConnector = rc.Connector, rc.Doc, rc.Compiled

	el := &element{
		kind: "event", key: e.Key, implements: e.Implements, doc: e.Source.Doc, pos: e.Source.Pos, mapping: "record",
		schemas: []*contractSchema{{field: "recordSchema", what: "record", own: e.RecordSchema}},
		patchOf: func(o *spec.ConnectionOverride) *tree.Value { return o.Events[e.Key] },
	}
	if u := r.Universal; u != nil {
		el.schemas[0].universal = schemaOf(u.Record)
		el.mapped = schemaOf(u.Record)
	}
	r.Doc = el.merge(overrides, &diags)
	dec, d := spec.Decode(r.Doc)
	diags = append(diags, d...)
	if dec == nil {
		return nil, diags
	}
	r.Event = dec.(*spec.Event)
	r.Record = schemaOf(r.Event.RecordSchema)
	record := r.Record
	if el.keep(overrides, r.Doc, []*tree.Value{record}, &diags) {
		record = nil
	}
	r.Compiled = compile.NewEvent(r.Connector, r.Event, record, &diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return r, diags
}

// eventContractBroken reports whether an event's contract is unknown
// because of errors reported elsewhere (the universal event it implements
// is missing or did not load, or a schema it runs under has errors of its
// own), as spec.Workspace.ContractBroken does for actions.
func eventContractBroken(ws *spec.Workspace, e *spec.Event) bool {
	if ws.SchemaBroken(e.RecordSchema) {
		return true
	}
	if e.Implements == "" {
		return false
	}
	ue := ws.UniversalEvents[e.Implements]
	return ue == nil || ws.SchemaBroken(ue.Record)
}
