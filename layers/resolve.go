package layers

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/schema"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// Action is an action resolved through its layers, ready to compile into a
// plan. Its documents keep, node by node, the layer and place each field
// came from.
type Action struct {
	Connector *spec.Connector
	Action    *spec.Action
	// Universal is the contract the action implements, or nil.
	Universal *spec.UniversalAction
	// Input and Output are the effective schemas: the universal contract
	// extended by the integration and connection layers.
	Input, Output *tree.Value
	// ConnectorDoc and Doc are the merged documents, for explain.
	ConnectorDoc, Doc *tree.Value
	// CompiledConnector and Compiled hold the compiled expressions.
	CompiledConnector *compile.Connector
	Compiled          *compile.Action
}

// Connector is a connector resolved through the connection layer: what a
// connection's requests use when no action is involved (its test request).
type Connector struct {
	Connector *spec.Connector
	// Doc is the merged document, for explain.
	Doc      *tree.Value
	Compiled *compile.Connector
}

// ResolveConnector applies the overrides' connector patches (a sandbox
// base URL, say) to a connector and compiles it.
func ResolveConnector(ws *spec.Workspace, connector string, overrides ...*spec.ConnectionOverride) (*Connector, diag.List) {
	var diags diag.List
	c := ws.Connectors[connector]
	if c == nil {
		diags.Errorf(diag.Pos{}, "unknown-reference", "connector %q is not defined in the workspace%s", connector, suggest.DidYouMean(connector, slices.Collect(maps.Keys(ws.Connectors))))
		return nil, diags
	}
	r := &Connector{Connector: c, Doc: Label(c.Source.Doc, Integration)}
	patched, schemasPatched := false, false
	for _, o := range overrides {
		if o.ConnectorPatch != nil {
			for _, s := range []*tree.Value{o.ConnectorPatch.Get("parameters"), o.ConnectorPatch.Get("auth").Get("credentials")} {
				if s != nil {
					schema.CheckKeywords(s, &diags)
					schemasPatched = true
				}
			}
			r.Doc = MergePatch(r.Doc, withoutIdentity(o.ConnectorPatch), Connection)
			patched = true
		}
	}
	if patched {
		el, d := spec.Decode(r.Doc)
		diags = append(diags, d...)
		if el == nil {
			return nil, diags
		}
		r.Connector = el.(*spec.Connector)
	}
	if schemasPatched {
		// The merged schemas are the ones connections are checked with.
		r.Connector.Parameters.Compile(&diags)
		if r.Connector.Auth != nil {
			r.Connector.Auth.Credentials.Compile(&diags)
		}
	}
	r.Compiled = compile.NewConnector(r.Connector, &diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return r, diags
}

// FindAction returns a connector's action by its own key, or the one that
// implements the universal action of that key.
func FindAction(ws *spec.Workspace, connector, name string) *spec.Action {
	return find(ws.Actions[connector], name, actionImplements)
}

func actionImplements(a *spec.Action) string { return a.Implements }

// lookup finds a connector's element of a kind (an action, an event) as
// find does, or reports the connector or the element missing, with the
// nearest key.
func lookup[E any](ws *spec.Workspace, connector, kind, name string, byKey map[string]*E, implements func(*E) string) (*E, diag.List) {
	var diags diag.List
	c := ws.Connectors[connector]
	if c == nil {
		diags.Errorf(diag.Pos{}, "unknown-reference", "connector %q is not defined in the workspace%s", connector, suggest.DidYouMean(connector, slices.Collect(maps.Keys(ws.Connectors))))
		return nil, diags
	}
	e := find(byKey, name, implements)
	if e == nil {
		var names []string
		for k, e := range byKey {
			names = append(names, k)
			if u := implements(e); u != "" {
				names = append(names, u)
			}
		}
		diags.Errorf(c.Source.Pos, "unknown-reference", "connector %q has no %s %q%s", connector, kind, name, suggest.DidYouMean(name, names))
	}
	return e, diags
}

// find returns the element of key name, or else the first, by key, that
// implements the universal element of that key.
func find[E any](byKey map[string]*E, name string, implements func(*E) string) *E {
	if e := byKey[name]; e != nil {
		return e
	}
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		if e := byKey[key]; implements(e) == name {
			return e
		}
	}
	return nil
}

// ResolveAction merges a connector's action with the universal contract it
// implements and the connection overrides given (applied in order), checks
// that the result still keeps the contract, and compiles its expressions.
func ResolveAction(ws *spec.Workspace, connector, name string, overrides ...*spec.ConnectionOverride) (*Action, diag.List) {
	a, diags := lookup(ws, connector, "action", name, ws.Actions[connector], actionImplements)
	if a == nil {
		return nil, diags
	}
	r := &Action{Universal: ws.UniversalActions[a.Implements]}
	rc, d := ResolveConnector(ws, connector, overrides...)
	diags = append(diags, d...)
	if rc == nil {
		return nil, diags
	}
	r.Connector, r.ConnectorDoc, r.CompiledConnector = rc.Connector, rc.Doc, rc.Compiled

	el := &element{
		kind: "action", key: a.Key, implements: a.Implements, doc: a.Source.Doc, pos: a.Source.Pos, mapping: "output",
		patchOf: func(o *spec.ConnectionOverride) *tree.Value { return o.Actions[a.Key] },
	}
	el.schemas = []*contractSchema{
		{field: "inputSchema", what: "input", own: a.InputSchema},
		{field: "outputSchema", what: "output", own: a.OutputSchema},
	}
	if u := r.Universal; u != nil {
		el.schemas[0].universal, el.schemas[1].universal = schemaOf(u.Input), schemaOf(u.Output)
		el.mapped = schemaOf(u.Output)
	}
	r.Doc = el.merge(overrides, &diags)
	dec, d := spec.Decode(r.Doc)
	diags = append(diags, d...)
	if dec == nil {
		return nil, diags
	}
	r.Action = dec.(*spec.Action)
	r.Input = schemaOf(r.Action.InputSchema)
	r.Output = schemaOf(r.Action.OutputSchema)
	in, out := r.Input, r.Output
	if el.keep(overrides, r.Doc, []*tree.Value{in, out}, &diags) {
		in, out = nil, nil
	}
	r.Compiled = compile.NewAction(r.Connector, r.Action, in, out, &diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return r, diags
}

// element is an action or an event on its way through the layers: what
// resolving either one has in common.
type element struct {
	kind, key, implements string
	// doc is the integration layer's document, from the file at pos.
	doc *tree.Value
	pos diag.Pos
	// schemas are the element's schemas, each with the universal one that
	// binds it (nil when the element implements none).
	schemas []*contractSchema
	// mapping is the field that maps to the contract ("output", "record"),
	// and mapped the universal schema whose required fields it must give.
	mapping string
	mapped  *tree.Value
	// patchOf returns an override's patch of the element, or nil.
	patchOf func(*spec.ConnectionOverride) *tree.Value
}

// contractSchema is one schema of an element and its universal contract.
type contractSchema struct {
	field, what string // "inputSchema", "input"
	universal   *tree.Value
	own         *spec.Schema
	// patched says an override wrote to the schema.
	patched bool
}

// merge returns the element's document through its layers: the
// integration document with its effective contract written in (so that
// overrides patch the contract like any other field), then each
// override's patch in order.
func (el *element) merge(overrides []*spec.ConnectionOverride, diags *diag.List) *tree.Value {
	doc := Label(el.doc, Integration)
	for _, s := range el.schemas {
		if s.universal != nil {
			m := schema.Extend(Label(s.universal, Universal), schemaOf(s.own))
			doc.Set(s.field, m.Pos, m)
		}
	}
	for _, o := range overrides {
		p := el.patchOf(o)
		if p == nil {
			continue
		}
		if impl := p.Get("implements"); impl != nil && (impl.Kind != tree.String || impl.Str != el.implements) {
			diags.Errorf(impl.Pos, "contract", "an override cannot change what %s %q implements (%q, at %s); patch its fields instead", el.kind, el.key, el.implements, el.pos)
		}
		for _, s := range el.schemas {
			if v := p.Get(s.field); v != nil {
				schema.CheckKeywords(v, diags)
				s.patched = true
			}
		}
		mergeIntoExpressionBodies(doc, p)
		doc = MergePatch(doc, withoutIdentity(p), Connection)
	}
	return doc
}

// requestPaths are where an action or an event holds a request.
var requestPaths = [][]string{
	{"request"}, {"polling", "request"},
	{"webhook", "subscribe"}, {"webhook", "unsubscribe"}, {"webhook", "renew"},
}

// mergeIntoExpressionBodies prepares doc for patch p: a request body
// written as one expression (`${ {...} }`, to leave absent fields out)
// that p patches with an object becomes an object whose `$merge` field is
// that expression, so that p's fields merge into the body's value at run
// time rather than replace the whole body, as a merge patch would.
func mergeIntoExpressionBodies(doc, p *tree.Value) {
	for _, path := range requestPaths {
		req, patch := doc, p
		for _, k := range path {
			req, patch = req.Get(k), patch.Get(k)
		}
		body, pb := req.Get("body"), patch.Get("body")
		if body == nil || body.Kind != tree.String || !strings.Contains(body.Str, "${") || pb == nil || pb.Kind != tree.Map {
			continue
		}
		// The object is the override's: a failure to merge into the
		// body's value is reported at its line.
		obj := &tree.Value{Kind: tree.Map, Pos: pb.Pos, Layer: Connection}
		obj.Fields = []tree.Field{{Key: compile.MergeKey, KeyPos: body.Pos, Value: body}}
		req.Set("body", req.Field("body").KeyPos, obj)
	}
}

// keep checks that the merged document still keeps the universal
// contract, and compiles the schemas an override patched. effective holds
// the decoded element's schemas, in the order of el.schemas. It reports
// whether the contract was broken: the merged schemas are then not the
// ones to type expressions by, or the one error would come back as the
// expressions' that no longer fit them.
func (el *element) keep(overrides []*spec.ConnectionOverride, doc *tree.Value, effective []*tree.Value, diags *diag.List) (broken bool) {
	before := len(*diags)
	removed := func(path ...string) *tree.Value { return removedBy(overrides, el.patchOf, path) }
	for i, s := range el.schemas {
		if s.universal != nil {
			keepsContract(s.universal, effective[i], s.what, s.field, removed, diags)
		}
	}
	if el.mapped != nil {
		keepsMapping(el.mapped, el.mapping, el.doc.Get(el.mapping), doc.Get(el.mapping), removed, diags)
	}
	// A patched schema is compiled here, where its merge is known, so that
	// it fails when the override is checked rather than when a run first
	// needs it.
	for i, s := range el.schemas {
		if s.patched && effective[i] != nil {
			(&spec.Schema{Value: effective[i]}).Compile(diags)
		}
	}
	return (*diags)[before:].HasErrors()
}

// withoutIdentity drops the fields that say which element a patch is for:
// a patch may not rename what it patches.
func withoutIdentity(p *tree.Value) *tree.Value {
	if p.Get("kind") == nil && p.Get("key") == nil && p.Get("connector") == nil {
		return p
	}
	p = p.Clone()
	for _, k := range []string{"kind", "key", "connector"} {
		p.Delete(k)
	}
	return p
}

func schemaOf(s *spec.Schema) *tree.Value {
	if s.IsZero() {
		return nil
	}
	return s.Value
}

// keepsContract checks that a merged schema still binds what the universal
// one does: every universal property is there with the same type, and
// every universal required field is still required. It names the layer of
// the node that broke it; for a node a patch removed (a `null`), the
// override's null, so the error points at the line to fix.
func keepsContract(universal, merged *tree.Value, what, field string, removed func(...string) *tree.Value, diags *diag.List) {
	if universal == nil {
		return
	}
	if merged == nil {
		if n := removed(field); n != nil {
			diags.Errorf(n.Pos, "contract", "the %s schema was removed%s; the universal contract at %s must stay", what, removal(n), universal.Pos)
			return
		}
		diags.Errorf(universal.Pos, "contract", "the %s schema was removed; the universal contract at %s must stay", what, universal.Pos)
		return
	}
	uprops, mprops := universal.Get("properties"), merged.Get("properties")
	if uprops != nil {
		for _, f := range uprops.Fields {
			m := mprops.Get(f.Key)
			if m == nil {
				pos, by := mergedPos(mprops, merged), where(mprops)
				if n := removed(field, "properties", f.Key); n != nil {
					pos, by = n.Pos, removal(n)
				}
				diags.Errorf(pos, "contract", "%s field %q of the universal contract was removed%s; an override may add fields, never remove them", what, f.Key, by)
				continue
			}
			ut, mt := f.Value.Get("type"), m.Get("type")
			if ut != nil && (mt == nil || string(mustJSON(ut)) != string(mustJSON(mt))) {
				pos, by := mergedPos(mt, m), where(mt)
				if mt == nil {
					pos, by = mergedPos(nil, m), where(m)
					if n := removed(field, "properties", f.Key, "type"); n != nil {
						pos, by = n.Pos, removal(n)
					}
				}
				diags.Errorf(pos, "contract", "%s field %q must stay of type %s as the universal contract says%s", what, f.Key, mustJSON(ut), by)
			}
		}
	}
	if ureq := universal.Get("required"); ureq != nil {
		mreq := merged.Get("required")
		for _, it := range ureq.Items {
			if mreq == nil || !slices.ContainsFunc(mreq.Items, func(v *tree.Value) bool { return v.Str == it.Str }) {
				pos, by := mergedPos(mreq, merged), where(mreq)
				if mreq == nil {
					if n := removed(field, "required"); n != nil {
						pos, by = n.Pos, removal(n)
					}
				}
				diags.Errorf(pos, "contract", "%s field %q must stay required as the universal contract says%s", what, it.Str, by)
			}
		}
	}
}

// keepsMapping checks that the connection layer left the mapping (an
// action's output, an event's record) giving every field the universal
// schema requires. A mapping that lacked one before any override is
// reported by spec, with the integration file.
func keepsMapping(universal *tree.Value, field string, before, after *tree.Value, removed func(...string) *tree.Value, diags *diag.List) {
	required := requiredOf(universal)
	if len(required) == 0 {
		return
	}
	if after == nil {
		if n := removed(field); n != nil && before != nil {
			diags.Errorf(n.Pos, "contract", "the %s mapping was removed%s, but the universal contract requires %s; an override may add fields, never remove them", field, removal(n), quoteList(required))
		}
		return
	}
	if after.Kind != tree.Map {
		return // one expression: its type is checked when compiled
	}
	for _, key := range required {
		if after.Get(key) != nil || (before != nil && before.Kind == tree.Map && before.Get(key) == nil) {
			continue
		}
		pos, by := after.Pos, where(after)
		if n := removed(field, key); n != nil {
			pos, by = n.Pos, removal(n)
		}
		diags.Errorf(pos, "contract", "%s field %q of the universal contract is no longer mapped%s; an override may add fields, never remove them", field, key, by)
	}
}

// removedBy finds the `null` by which an override's patch (patchOf)
// removed the node at path of the element's document (or one of its
// ancestors). The overrides are searched last to first: the last removal
// is the one that stands.
func removedBy(overrides []*spec.ConnectionOverride, patchOf func(*spec.ConnectionOverride) *tree.Value, path []string) *tree.Value {
	for i := len(overrides) - 1; i >= 0; i-- {
		n := patchOf(overrides[i])
		for _, tok := range path {
			if n = n.Get(tok); n == nil {
				break
			}
			if n.Kind == tree.Null {
				return n
			}
		}
	}
	return nil
}

// where names the layer and place a merged node came from.
func where(n *tree.Value) string {
	if n == nil || n.Layer == "" {
		return ""
	}
	return fmt.Sprintf(" (the %s layer at %s)", n.Layer, n.Pos)
}

// removal names the override `null` that removed a node.
func removal(n *tree.Value) string {
	return fmt.Sprintf(" (the %s layer at %s sets it to null)", Connection, n.Pos)
}

func requiredOf(schema *tree.Value) []string {
	var out []string
	if r := schema.Get("required"); r != nil && r.Kind == tree.List {
		for _, it := range r.Items {
			if it.Kind == tree.String {
				out = append(out, it.Str)
			}
		}
	}
	return out
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func mergedPos(n, fallback *tree.Value) diag.Pos {
	if n != nil {
		return n.Pos
	}
	return fallback.Pos
}

func mustJSON(v *tree.Value) []byte {
	b, _ := v.MarshalJSON()
	return b
}
