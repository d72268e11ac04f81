// Package catalog describes a loaded workspace as a catalogue: which
// connectors it holds, how each authenticates, which universal actions
// and events each implements, and how well each is tested. It is what
// `membrane catalog` prints and what docs/catalog.md is generated from,
// so the page can never disagree with the files.
package catalog

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/membrane-dev/membrane/spec"
)

// Catalog is the whole catalogue of a workspace.
type Catalog struct {
	Connectors []Connector `json:"connectors"`
	// Universal lists every universal action and event with the connectors
	// implementing it.
	Universal []Universal `json:"universal"`
}

// Connector is one connector's line of the catalogue.
type Connector struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	// Dir is the directory of the connector's file, as the workspace was
	// loaded (relative when it was given relative).
	Dir         string   `json:"-"`
	Description string   `json:"description,omitempty"`
	AuthModes   []string `json:"authModes"`
	Actions     []string `json:"actions"`
	Events      []string `json:"events"`
	// Implements lists the universal actions and events this connector
	// implements, by key.
	Implements []string `json:"implements"`
	// OfflineCases counts the ConnectorTest cases of the connector.
	OfflineCases int `json:"offlineCases"`
	// VendorCases counts the cases run against the vendor's own API
	// description (or the vendor's own mock), when they were read.
	VendorCases int `json:"vendorCases"`
}

// Universal is one universal action or event and its implementers.
type Universal struct {
	Key          string   `json:"key"`
	Kind         string   `json:"kind"` // "action" or "event"
	Name         string   `json:"name,omitempty"`
	Implementers []string `json:"implementers"`
}

// Build makes the catalogue of ws. vendorCases, when not empty, is a
// directory holding one <connector>.yaml per connector whose top-level
// `cases:` list holds the cases run against the vendor's description;
// a connector without such a file has none.
func Build(ws *spec.Workspace, vendorCases string) (*Catalog, error) {
	c := &Catalog{Connectors: []Connector{}, Universal: []Universal{}}
	implementers := map[string][]string{} // kind/key → connectors
	for _, key := range sortedKeys(ws.Connectors) {
		con := ws.Connectors[key]
		line := Connector{
			Key: key, Name: cmp.Or(con.Name, key), Description: con.Description, Dir: filepath.Dir(con.File),
			AuthModes: authModes(con), Actions: []string{}, Events: []string{}, Implements: []string{},
		}
		for _, ak := range sortedKeys(ws.Actions[key]) {
			if ws.Actions[key][ak].Internal {
				continue // run by the files, offered to no caller
			}
			line.Actions = append(line.Actions, ak)
			if u := ws.Actions[key][ak].Implements; u != "" {
				line.Implements = appendNew(line.Implements, u)
				implementers["action/"+u] = appendNew(implementers["action/"+u], key)
			}
		}
		for _, ek := range sortedKeys(ws.Events[key]) {
			line.Events = append(line.Events, ek)
			if u := ws.Events[key][ek].Implements; u != "" {
				line.Implements = appendNew(line.Implements, u)
				implementers["event/"+u] = appendNew(implementers["event/"+u], key)
			}
		}
		slices.Sort(line.Implements)
		for _, t := range ws.Tests {
			if t.Connector == key {
				line.OfflineCases += len(t.Cases)
			}
		}
		if vendorCases != "" {
			n, err := countCases(filepath.Join(vendorCases, key+".yaml"))
			if err != nil {
				return nil, err
			}
			line.VendorCases = n
		}
		c.Connectors = append(c.Connectors, line)
	}
	for _, key := range sortedKeys(ws.UniversalActions) {
		u := Universal{Key: key, Kind: "action", Name: ws.UniversalActions[key].Name, Implementers: implementers["action/"+key]}
		c.Universal = append(c.Universal, u)
	}
	for _, key := range sortedKeys(ws.UniversalEvents) {
		u := Universal{Key: key, Kind: "event", Name: ws.UniversalEvents[key].Name, Implementers: implementers["event/"+key]}
		c.Universal = append(c.Universal, u)
	}
	for i := range c.Universal {
		if c.Universal[i].Implementers == nil {
			c.Universal[i].Implementers = []string{}
		}
		slices.Sort(c.Universal[i].Implementers)
	}
	return c, nil
}

// authModes names the ways a connection of con may authenticate: each
// mode's type (and OAuth2 grant), with its key when it has several.
func authModes(con *spec.Connector) []string {
	modes := con.Modes()
	if len(modes) == 0 {
		return []string{"none"}
	}
	out := make([]string, 0, len(modes))
	for _, a := range modes {
		mode := a.Type
		if a.Type == spec.AuthOAuth2 {
			// Named whether the file writes it or leaves the default.
			mode += " (" + cmp.Or(a.Grant, spec.GrantAuthorizationCode) + ")"
		}
		if len(modes) > 1 {
			mode = a.ModeKey() + ": " + mode
		}
		out = append(out, mode)
	}
	return out
}

// countCases counts the entries of the top-level `cases:` list of the
// file at path; a missing file has none.
func countCases(path string) (int, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var doc struct {
		Cases []yaml.Node `yaml:"cases"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return len(doc.Cases), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
