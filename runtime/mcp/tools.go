package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec/tree"
)

// ConnectionArg is the argument naming the connection of a tool whose
// app the tenant has several connections to; the action's input is then
// under InputArg.
const (
	ConnectionArg = "connection"
	InputArg      = "input"
)

// ToolName is the tool of a connector's action: "crm__create-contact".
// Two underscores part them, as keys hold single ones but rarely two;
// the name keeps to the characters every MCP client accepts.
func ToolName(connector, action string) string { return connector + "__" + action }

// binding is what a tool call runs: an action of a connector on one of
// the tenant's connections, and how the arguments carry its input.
type binding struct {
	connector, action string
	// conns are the connections the tool offers, oldest first; a call
	// names one of them by ConnectionArg when there are several.
	conns []string
	// wrapped: the input is the arguments' InputArg member, not the
	// arguments themselves (several connections, or an input that is
	// not an object).
	wrapped bool
	// structured: the tool has an output schema, so a result carries
	// the output as structured content.
	structured bool
}

func (b binding) multi() bool { return len(b.conns) > 1 }

// tool is one tool of a tenant and what its calls run.
type tool struct {
	def  *mcp.Tool
	bind binding
	// fingerprint is the definition and binding as JSON: a tool whose
	// fingerprint changed is replaced, and clients are told.
	fingerprint string
}

// offer is one action as one connection offers it.
type offer struct {
	conn *store.Connection
	info connections.ActionInfo
}

// buildTool makes the tool of an action offered by one or more of the
// tenant's connections to its connector.
func buildTool(connector string, offers []offer) (*tool, error) {
	first := offers[0].info
	b := binding{connector: connector, action: first.Key, wrapped: len(offers) > 1}
	inputs := make([]map[string]any, len(offers))
	outputs := make([]map[string]any, len(offers))
	for i, o := range offers {
		b.conns = append(b.conns, o.conn.ID)
		var err error
		if inputs[i], err = schemaMap(o.info.InputSchema); err != nil {
			return nil, fmt.Errorf("input schema of %s on %s: %w", first.Key, o.conn.ID, err)
		}
		if outputs[i], err = schemaMap(o.info.OutputSchema); err != nil {
			return nil, fmt.Errorf("output schema of %s on %s: %w", first.Key, o.conn.ID, err)
		}
	}
	def := &mcp.Tool{Name: ToolName(connector, first.Key), Title: first.Name, Annotations: annotations(first)}
	def.Annotations.Title = first.Name
	if !b.multi() {
		in := inputs[0]
		if in == nil {
			in = map[string]any{"type": "object"}
		}
		if isObject(in) {
			def.InputSchema = in
		} else {
			b.wrapped = true
			def.InputSchema = wrap(map[string]any{InputArg: in}, []string{InputArg})
		}
	} else {
		def.InputSchema = multiSchema(offers, inputs)
	}
	if out := outputs[0]; out != nil && isObject(out) && allEqual(outputs) {
		def.OutputSchema = out
		b.structured = true
	}
	def.Description = describe(first, offers, b)
	fp, err := json.Marshal(struct {
		Def  *mcp.Tool
		Conn []string
		W, S bool
	}{def, b.conns, b.wrapped, b.structured})
	if err != nil {
		return nil, err
	}
	return &tool{def: def, bind: b, fingerprint: string(fp)}, nil
}

// multiSchema is the input schema of a tool with several connections:
// {connection, input}, the connection one of theirs; where their
// overrides give them different input schemas, one branch each.
func multiSchema(offers []offer, inputs []map[string]any) map[string]any {
	ids := make([]any, len(offers))
	for i, o := range offers {
		ids[i] = o.conn.ID
	}
	conn := map[string]any{"type": "string", "enum": ids, "description": "The connection to run on: " + connectionList(offers) + "."}
	props := map[string]any{ConnectionArg: conn}
	s := wrap(props, []string{ConnectionArg, InputArg})
	if allEqual(inputs) {
		props[InputArg] = orEmptyObject(inputs[0])
		return s
	}
	props[InputArg] = map[string]any{"description": "The action's input, as the connection chosen takes it."}
	branches := make([]any, len(offers))
	for i, o := range offers {
		branches[i] = map[string]any{"properties": map[string]any{
			ConnectionArg: map[string]any{"const": o.conn.ID},
			InputArg:      orEmptyObject(inputs[i]),
		}}
	}
	s["oneOf"] = branches
	return s
}

// wrap is an object schema of these members, all required, no others.
// A member's $defs move to the top, where its "#/$defs/…" refs resolve.
func wrap(props map[string]any, required []string) map[string]any {
	s := map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	for _, p := range props {
		m, ok := p.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range []string{"$defs", "definitions"} {
			if d, ok := m[k]; ok {
				if _, taken := s[k]; !taken {
					s[k] = d
				}
			}
		}
	}
	return s
}

func orEmptyObject(s map[string]any) map[string]any {
	if s == nil {
		return map[string]any{"type": "object"}
	}
	return s
}

// isObject: the schema takes objects only, so it can be a tool's
// arguments as it is.
func isObject(s map[string]any) bool { return s["type"] == "object" }

func allEqual(ss []map[string]any) bool {
	first, _ := json.Marshal(ss[0])
	for _, s := range ss[1:] {
		b, _ := json.Marshal(s)
		if !bytes.Equal(first, b) {
			return false
		}
	}
	return true
}

// schemaMap is a resolved schema as JSON; nil when there is none.
func schemaMap(v *tree.Value) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// annotations say what an action does to the app, by the methods of its
// requests as the connection runs them: only GET (or HEAD) reads, a
// DELETE destroys, POST only adds. An action whose steps call other
// actions gets no hint: the MCP defaults (it may change anything)
// hold.
func annotations(info connections.ActionInfo) *mcp.ToolAnnotations {
	a := &mcp.ToolAnnotations{}
	methods, known := methodsOf(info.Resolved)
	if !known || len(methods) == 0 {
		return a
	}
	readOnly := true
	destructive := false
	for _, m := range methods {
		switch m {
		case "GET", "HEAD":
		case "POST":
			readOnly = false
		default: // PUT, PATCH and DELETE change or remove what is there
			readOnly, destructive = false, true
		}
	}
	a.ReadOnlyHint = readOnly
	if !readOnly {
		a.DestructiveHint = &destructive
	}
	if readOnly || onlyMethod(methods, "DELETE") || onlyMethod(methods, "PUT") {
		a.IdempotentHint = true
	}
	return a
}

func onlyMethod(ms []string, m string) bool {
	for _, x := range ms {
		if x != m {
			return false
		}
	}
	return true
}

// methodsOf lists the HTTP methods an action's requests use; known is
// false when a step calls another action.
func methodsOf(r *layers.Action) (methods []string, known bool) {
	if r == nil || r.Action == nil {
		return nil, false
	}
	a := r.Action
	add := func(m string) {
		m = strings.ToUpper(m)
		if m == "" {
			m = "GET"
		}
		if !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	if a.Request != nil {
		add(a.Request.Method)
	}
	for _, s := range a.Steps {
		switch {
		case s.Request != nil:
			add(s.Request.Method)
		case s.Action != "":
			return nil, false
		}
	}
	if a.OnError != nil {
		for _, s := range a.OnError.Steps {
			switch {
			case s.Request != nil:
				add(s.Request.Method)
			case s.Action != "":
				return nil, false
			}
		}
	}
	return methods, true
}

// describe is the tool's description: the action's own, what it
// implements, and the connection(s) it runs on.
func describe(info connections.ActionInfo, offers []offer, b binding) string {
	var sb strings.Builder
	switch {
	case info.Description != "":
		sb.WriteString(strings.TrimSpace(info.Description))
	case info.Name != "":
		sb.WriteString(info.Name + ".")
	default:
		sb.WriteString("Runs the " + info.Key + " action.")
	}
	if !strings.HasSuffix(sb.String(), ".") {
		sb.WriteString(".")
	}
	if info.Implements != "" && info.Implements != info.Key {
		sb.WriteString(" Implements the universal action " + info.Implements + ".")
	}
	if b.multi() {
		sb.WriteString(" Runs on the " + b.connector + " connection named by \"" + ConnectionArg + "\" (" + connectionList(offers) + "), with the action's input in \"" + InputArg + "\".")
	} else {
		sb.WriteString(" Runs on the " + b.connector + " connection " + connectionList(offers) + ".")
		if b.wrapped {
			sb.WriteString(" The action's input goes in \"" + InputArg + "\".")
		}
	}
	return sb.String()
}

func connectionList(offers []offer) string {
	parts := make([]string, len(offers))
	for i, o := range offers {
		parts[i] = o.conn.ID
		if o.conn.Name != "" {
			parts[i] += " (" + o.conn.Name + ")"
		}
	}
	return strings.Join(parts, ", ")
}
