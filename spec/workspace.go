package spec

import (
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// Workspace is every element read from a tree of spec files.
type Workspace struct {
	Connectors       map[string]*Connector
	UniversalActions map[string]*UniversalAction
	UniversalEvents  map[string]*UniversalEvent
	// Actions and Events are keyed by connector, then by key.
	Actions   map[string]map[string]*Action
	Events    map[string]map[string]*Event
	Overrides []*ConnectionOverride
	// Tests are the ConnectorTest documents, in file order.
	Tests []*ConnectorTest
	// Config is the workspace's membrane.yaml, or nil.
	Config *WorkspaceConfig
	// Files lists every spec file read, as displayed in diagnostics.
	Files []string
	// broken holds the keys of documents that failed their schema, by
	// kind/connector/key, so references to them are not reported again;
	// brokenImplements the universal keys they implement, by kind/key.
	broken           map[string]bool
	brokenImplements map[string]bool
	// badSchemas holds the inline schemas with errors (they do not compile,
	// or use keywords JSON Schema does not define), by their root node.
	badSchemas map[*tree.Value]bool
}

// Empty returns a workspace with no elements and the given settings (nil
// for none): what a development server serves until the files first load
// without errors.
func Empty(config *WorkspaceConfig) *Workspace {
	w := newWorkspace()
	w.Config = config
	return w
}

func newWorkspace() *Workspace {
	return &Workspace{
		Connectors:       map[string]*Connector{},
		UniversalActions: map[string]*UniversalAction{},
		UniversalEvents:  map[string]*UniversalEvent{},
		Actions:          map[string]map[string]*Action{},
		Events:           map[string]map[string]*Event{},
		broken:           map[string]bool{},
		brokenImplements: map[string]bool{},
		badSchemas:       map[*tree.Value]bool{},
	}
}

// Action returns a connector's action by key, or nil.
func (w *Workspace) Action(connector, key string) *Action { return w.Actions[connector][key] }

// Event returns a connector's event by key, or nil.
func (w *Workspace) Event(connector, key string) *Event { return w.Events[connector][key] }

// add indexes an element, reporting a second definition of the same key.
func (w *Workspace) add(el any, diags *diag.List) {
	dup := func(what, key string, first, again Source) {
		diags.Errorf(keyPos(again), "duplicate-definition", "%s %q is already defined at %s; rename one", what, key, keyPos(first))
	}
	switch e := el.(type) {
	case broken:
		if e.kind == KindConnector || e.kind == KindUniversalAction || e.kind == KindUniversalEvent {
			e.connector = ""
		}
		w.broken[e.kind+"/"+e.connector+"/"+e.key] = true
		if e.implements != "" {
			w.brokenImplements[e.kind+"/"+e.implements] = true
		}
	case *Connector:
		if prev, ok := w.Connectors[e.Key]; ok {
			dup("connector", e.Key, prev.Source, e.Source)
			return
		}
		w.Connectors[e.Key] = e
	case *UniversalAction:
		if prev, ok := w.UniversalActions[e.Key]; ok {
			dup("universal action", e.Key, prev.Source, e.Source)
			return
		}
		w.UniversalActions[e.Key] = e
	case *UniversalEvent:
		if prev, ok := w.UniversalEvents[e.Key]; ok {
			dup("universal event", e.Key, prev.Source, e.Source)
			return
		}
		w.UniversalEvents[e.Key] = e
	case *Action:
		m := w.Actions[e.Connector]
		if m == nil {
			m = map[string]*Action{}
			w.Actions[e.Connector] = m
		}
		if prev, ok := m[e.Key]; ok {
			dup("action", e.Connector+"/"+e.Key, prev.Source, e.Source)
			return
		}
		m[e.Key] = e
	case *Event:
		m := w.Events[e.Connector]
		if m == nil {
			m = map[string]*Event{}
			w.Events[e.Connector] = m
		}
		if prev, ok := m[e.Key]; ok {
			dup("event", e.Connector+"/"+e.Key, prev.Source, e.Source)
			return
		}
		m[e.Key] = e
	case *ConnectionOverride:
		w.Overrides = append(w.Overrides, e)
	case *ConnectorTest:
		w.Tests = append(w.Tests, e)
	case *WorkspaceConfig:
		if w.Config != nil {
			diags.Errorf(e.Source.Pos, "duplicate-definition", "a second Workspace document; the workspace's settings are already at %s, and there is one per workspace", w.Config.Source.Pos)
			return
		}
		w.Config = e
	}
}

// keyPos is where a document's `key:` value stands, or the document itself.
func keyPos(s Source) diag.Pos {
	if v := s.Doc.Get("key"); v != nil {
		return v.Pos
	}
	return s.Pos
}
