package connections

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// maxOverrideSize is the store's bound on a stored override document.
const maxOverrideSize = 1 << 20

// maxParsed bounds the parsed overrides kept; past it the cache starts over.
const maxParsed = 10000

// parsedOverride is a stored override parsed at one revision.
type parsedOverride struct {
	rev int64
	// ws is the workspace the override was checked against: its files
	// give the limits a stored override may not raise.
	ws  *membrane.Workspace
	o   *spec.ConnectionOverride
	err error
}

func overrideKey(tenant, connector, connID string) string {
	return tenant + "\x00" + connector + "\x00" + connID
}

// OverrideName is how diagnostics name a stored override:
// "stored override hubspot/conn_… rev 3", and "hubspot/*" for the
// tenant-wide one of a connector.
func OverrideName(connector, connID string, rev int64) string {
	if connID == "" {
		connID = "*"
	}
	return fmt.Sprintf("stored override %s/%s rev %d", connector, connID, rev)
}

// parseStored returns a stored override parsed, once per revision: a
// revision never repeats, so it names the content.
func (s *Service) parseStored(ws *membrane.Workspace, tenant string, so *store.Override) (*spec.ConnectionOverride, error) {
	key := overrideKey(tenant, so.Connector, so.ConnectionID)
	s.ovMu.Lock()
	e, ok := s.parsed[key]
	s.ovMu.Unlock()
	if ok && e.rev == so.Revision && e.ws == ws {
		return e.o, e.err
	}
	o, diags := parseOverride(tenant, so.Connector, so.ConnectionID, so.Revision, so.Doc)
	if o != nil {
		checkLimits(ws.Spec, so.Connector, fileOverrides(ws, tenant, so.Connector, so.ConnectionID), o, &diags)
	}
	e = parsedOverride{rev: so.Revision, ws: ws, o: o}
	if diags.HasErrors() {
		e.o, e.err = nil, &OverrideError{Name: OverrideName(so.Connector, so.ConnectionID, so.Revision), Diagnostics: diags}
	}
	s.remember(key, e)
	return e.o, e.err
}

func (s *Service) remember(key string, e parsedOverride) {
	s.ovMu.Lock()
	defer s.ovMu.Unlock()
	if _, ok := s.parsed[key]; !ok && len(s.parsed) >= maxParsed {
		clear(s.parsed)
	}
	s.parsed[key] = e
}

// forgetOverrides drops the parsed overrides of a connection.
func (s *Service) forgetOverrides(tenant, connector, connID string) {
	s.ovMu.Lock()
	delete(s.parsed, overrideKey(tenant, connector, connID))
	s.ovMu.Unlock()
}

// parseOverride reads a stored document as an override file is read
// (spec.LoadFile), and checks it is one ConnectionOverride for what it is
// stored for.
func parseOverride(tenant, connector, connID string, rev int64, doc []byte) (*spec.ConnectionOverride, diag.List) {
	name := OverrideName(connector, connID, rev)
	els, diags := spec.LoadFile(name, doc)
	if diags.HasErrors() {
		return nil, diags
	}
	if len(els) != 1 {
		diags.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, "wrong-kind", "a stored override is one ConnectionOverride document; this holds %d", len(els))
		return nil, diags
	}
	o, ok := els[0].(*spec.ConnectionOverride)
	if !ok {
		diags.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, "wrong-kind", "a stored override is a ConnectionOverride, not a %s", kindOf(els[0]))
		return nil, diags
	}
	doc0 := o.Source.Doc
	if o.Connector != connector {
		diags.Errorf(posOf(doc0, "connector", o.Source.Pos), "unknown-reference", "this override is for connector %q, but it is stored for %q", o.Connector, connector)
	}
	if o.Tenant != "" && o.Tenant != tenant {
		diags.Errorf(posOf(doc0, "tenant", o.Source.Pos), "invalid-value", "this override names tenant %q, but it is stored by tenant %q; remove the field, a stored override is its tenant's", o.Tenant, tenant)
	}
	switch {
	case o.Connection == "" || o.Connection == connID:
	case connID == "":
		diags.Errorf(posOf(doc0, "connection", o.Source.Pos), "invalid-value", "this override names connection %q, but it is stored for every connection of the tenant; store it for that connection, or remove the field", o.Connection)
	default:
		diags.Errorf(posOf(doc0, "connection", o.Source.Pos), "invalid-value", "this override names connection %q, but it is stored for connection %q", o.Connection, connID)
	}
	fileOnly(o, &diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return o, diags
}

// fileOnlyFields are the connector fields a stored override may not
// patch: they decide where a connection's requests, and the secrets they
// carry (its credentials, the workspace's OAuth client secret), go.
// Anyone holding a tenant token may store an override (a connect link
// puts one in a user's browser), so only a workspace file, which the
// workspace's owners review and deploy, may change them: a sandbox base
// URL is a ConnectionOverride file. servers are base URLs as much as
// baseUrl is, and redirectHosts say where a redirect is followed.
// Headers, mappings, schemas and
// request fields stay on the connector's hosts (the engine keeps an
// absolute path or a next-page link on the base URL's origin), so a
// stored override may change those.
var fileOnlyFields = []string{"baseUrl", "servers", "hosts", "redirectHosts", "auth"}

// fileOnly reports each field of connectorPatch that only a workspace
// file may change, at its place in the stored document. An override
// stored before this check runs into it when it is read for a run, and
// the run fails naming it, rather than sending anything.
func fileOnly(o *spec.ConnectionOverride, diags *diag.List) {
	patch := o.Source.Doc.Get("connectorPatch")
	for _, name := range fileOnlyFields {
		f := patch.Field(name)
		if f == nil {
			continue
		}
		why := "it decides where the connection's requests and secrets go"
		if name == "auth" {
			why = "it decides how, and where, the connection's credentials and the workspace's OAuth client are sent"
		}
		fields := []*tree.Field{f}
		if name == "auth" && f.Value.Kind == tree.Map && len(f.Value.Fields) > 0 {
			fields = fields[:0]
			for i := range f.Value.Fields {
				sub := f.Value.Fields[i]
				sub.Key = "auth." + sub.Key
				fields = append(fields, &sub)
			}
		}
		for _, ff := range fields {
			diags.Errorf(ff.KeyPos, "file-only", "connectorPatch.%s: only a workspace file may change a connector's %s: %s. Remove it from this override (a sandbox or self-hosted URL goes in a ConnectionOverride file of the workspace)", ff.Key, name, why)
		}
	}
}

func posOf(doc *tree.Value, field string, fallback diag.Pos) diag.Pos {
	if v := doc.Get(field); v != nil {
		return v.Pos
	}
	return fallback
}

// kindOf is the kind of a decoded element (its Kind field).
func kindOf(el any) string {
	v := reflect.ValueOf(el)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Kind"); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
			return f.String()
		}
	}
	return fmt.Sprintf("%T", el)
}

// checkOverride validates a document exactly as an override file is
// validated: read with spec.LoadFile, every action and event it patches
// must exist, and resolving each patched action and event through its
// layers (or one action, for a connector-only patch) must give no error,
// as layers.Check does for the workspace's files.
func (s *Service) checkOverride(tenant, connector, connID string, rev int64, doc []byte) (*spec.ConnectionOverride, diag.List) {
	name := OverrideName(connector, connID, rev)
	if len(doc) == 0 {
		return nil, diag.List{{Pos: diag.Pos{File: name}, Severity: diag.Error, Rule: "empty", Message: "the document is empty; give a ConnectionOverride"}}
	}
	if len(doc) > maxOverrideSize {
		return nil, diag.List{{Pos: diag.Pos{File: name}, Severity: diag.Error, Rule: "file-too-large", Message: fmt.Sprintf("the document is %d bytes; a stored override is at most %d", len(doc), maxOverrideSize)}}
	}
	o, diags := parseOverride(tenant, connector, connID, rev, doc)
	if o == nil {
		return nil, diags
	}
	cur := s.ws()
	ws := cur.Spec
	checkLimits(ws, connector, fileOverrides(cur, tenant, connector, connID), o, &diags)
	var actions []string
	patches := o.Source.Doc.Get("actions")
	for _, key := range slices.Sorted(maps.Keys(o.Actions)) {
		if ws.Action(connector, key) == nil {
			diags.Errorf(patches.Field(key).KeyPos, "unknown-reference", "connector %q has no action %q to override%s", connector, key, suggest.DidYouMean(key, slices.Collect(maps.Keys(ws.Actions[connector]))))
			continue
		}
		actions = append(actions, key)
	}
	var events []string
	patches = o.Source.Doc.Get("events")
	for _, key := range slices.Sorted(maps.Keys(o.Events)) {
		if ws.Event(connector, key) == nil {
			diags.Errorf(patches.Field(key).KeyPos, "unknown-reference", "connector %q has no event %q to override%s", connector, key, suggest.DidYouMean(key, slices.Collect(maps.Keys(ws.Events[connector]))))
			continue
		}
		events = append(events, key)
	}
	if len(actions) == 0 && len(events) == 0 && o.ConnectorPatch != nil {
		if keys := slices.Sorted(maps.Keys(ws.Actions[connector])); len(keys) > 0 {
			actions = keys[:1] // a connector-only patch must still give a valid connector
		} else {
			_, d := layers.ResolveConnector(ws, connector, o)
			diags = append(diags, d...)
		}
	}
	for _, key := range actions {
		_, d := layers.ResolveAction(ws, connector, key, o)
		diags = append(diags, d...)
	}
	for _, key := range events {
		_, d := layers.ResolveEvent(ws, connector, key, o)
		diags = append(diags, d...)
	}
	diags.Sort()
	if diags.HasErrors() {
		return nil, diags
	}
	return o, diags
}

// CheckOverride validates a document as PutOverride would, without
// storing it: for an editor's "check" button. It returns the diagnostics
// (warnings too), and an *OverrideError when there are errors.
func (s *Service) CheckOverride(ctx context.Context, tenant, connector, connID string, doc []byte) (diag.List, error) {
	_, _, diags, err := s.prepareOverride(ctx, tenant, connector, connID, doc)
	return diags, err
}

func (s *Service) prepareOverride(ctx context.Context, tenant, connector, connID string, doc []byte) (*spec.ConnectionOverride, int64, diag.List, error) {
	if _, err := s.connector(connector); err != nil {
		return nil, 0, nil, err
	}
	ts := s.st.Tenant(tenant)
	if connID != "" {
		c, err := ts.Connections().Get(ctx, connID)
		if err != nil {
			return nil, 0, nil, err
		}
		if c.Connector != connector {
			return nil, 0, nil, invalidf("connection %q is of connector %q, not %q", connID, c.Connector, connector)
		}
	}
	// The revision the document will most likely get, to name it in
	// diagnostics (after a delete, the store's counter may be further on).
	rev := int64(1)
	if cur, err := ts.Overrides().Get(ctx, connector, connID); err == nil {
		rev = cur.Revision + 1
	} else if !isNotFound(err) {
		return nil, 0, nil, err
	}
	o, diags := s.checkOverride(tenant, connector, connID, rev, doc)
	if diags.HasErrors() {
		return nil, rev, diags, &OverrideError{Name: OverrideName(connector, connID, rev), Diagnostics: diags}
	}
	return o, rev, diags, nil
}

// PutOverride validates a ConnectionOverride document exactly as an
// override file is validated, then stores it as the override of one
// connection (connID) or of every connection of the tenant to the
// connector (connID empty). An invalid document gives an *OverrideError
// whose diagnostics are placed in it ("stored override hubspot/conn_… rev
// 4:7:9"); warnings come back with the stored override.
//
// A non-zero ifRevision replaces only that revision (an editor's
// optimistic lock, HTTP If-Match): another is store.ErrConflict.
func (s *Service) PutOverride(ctx context.Context, tenant, connector, connID string, doc []byte, ifRevision int64) (*store.Override, diag.List, error) {
	o, rev, diags, err := s.prepareOverride(ctx, tenant, connector, connID, doc)
	if err != nil {
		return nil, diags, err
	}
	stored, err := s.st.Tenant(tenant).Overrides().Put(ctx, store.Override{Connector: connector, ConnectionID: connID, Doc: doc, Revision: ifRevision})
	if err != nil {
		return nil, diags, err
	}
	if stored.Revision == rev {
		// Parsed already, under the name it is stored with. The first run
		// checks its limits again against the workspace it runs on.
		s.remember(overrideKey(tenant, connector, connID), parsedOverride{rev: rev, o: o})
	}
	return stored, diags, nil
}

// GetOverride returns a stored override, its document as it was given.
func (s *Service) GetOverride(ctx context.Context, tenant, connector, connID string) (*store.Override, error) {
	return s.st.Tenant(tenant).Overrides().Get(ctx, connector, connID)
}

// DeleteOverride deletes a stored override.
func (s *Service) DeleteOverride(ctx context.Context, tenant, connector, connID string) error {
	if err := s.st.Tenant(tenant).Overrides().Delete(ctx, connector, connID); err != nil {
		return err
	}
	s.forgetOverrides(tenant, connector, connID)
	return nil
}

// ListOverrides pages through a tenant's stored overrides (documents
// included), of one connector and connection when given.
func (s *Service) ListOverrides(ctx context.Context, tenant string, f store.OverrideFilter) (store.Page[*store.Override], error) {
	return s.st.Tenant(tenant).Overrides().List(ctx, f)
}

// overridesFor returns the connection layer of a connection, in the order
// applied: the workspace's override files that match it (for every
// tenant, for its tenant, for it), then the tenant's stored override of
// the connector, then the connection's own. An empty connID leaves out
// the ones of a connection (a connection being created).
func (s *Service) overridesFor(ctx context.Context, ws *membrane.Workspace, ts store.TenantStore, connector, connID, authMode string) ([]*spec.ConnectionOverride, error) {
	tenant := ts.Key()
	out := withAuthMode(connector, authMode, fileOverrides(ws, tenant, connector, connID))
	ids := []string{""}
	if connID != "" {
		ids = append(ids, connID)
	}
	for _, id := range ids {
		so, err := ts.Overrides().Get(ctx, connector, id)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		o, err := s.parseStored(ws, tenant, so)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// withAuthMode puts first the pick of a connection's auth mode, so that
// every layer above applies to the connector as that mode makes it; the
// default mode needs none, which keeps the compiled plans of the many
// connections on it shared.
func withAuthMode(connector, mode string, ovs []*spec.ConnectionOverride) []*spec.ConnectionOverride {
	if mode == "" {
		return ovs
	}
	return append([]*spec.ConnectionOverride{{Kind: spec.KindConnectionOverride, Connector: connector, AuthMode: mode}}, ovs...)
}

// fileOverrides are the workspace's override files that match a
// connection, from the widest to the narrowest: the file layer of
// overridesFor, and all of the connection layer that may patch a
// connector's auth (a stored override never does).
func fileOverrides(ws *membrane.Workspace, tenant, connector, connID string) []*spec.ConnectionOverride {
	var out []*spec.ConnectionOverride
	for rank := range 3 {
		for _, o := range ws.Spec.Overrides {
			if o.Connector != connector || fileRank(o) != rank {
				continue
			}
			if (o.Tenant == "" || o.Tenant == tenant) && (o.Connection == "" || o.Connection == connID) {
				out = append(out, o)
			}
		}
	}
	return out
}

// fileRank orders override files from the widest to the narrowest.
func fileRank(o *spec.ConnectionOverride) int {
	switch {
	case o.Connection != "":
		return 2
	case o.Tenant != "":
		return 1
	}
	return 0
}
