package conntest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/tree"
)

// splice is the recorded responses of one case, to write into its file.
type splice struct {
	c         Case
	responses []recordedResponse
}

// writeSplices replaces (or adds) the `responses:` of each case in one
// file, keeping every other line as it is, and checks that the result
// still loads before replacing the file.
func writeSplices(file string, sps []splice) (int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("%s: cannot read: %v", file, err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	// From the bottom up, so the line numbers above stay right.
	slices.SortFunc(sps, func(a, b splice) int { return b.c.Pos.Line - a.c.Pos.Line })
	n := 0
	for _, sp := range sps {
		var err error
		if lines, err = spliceCase(lines, sp); err != nil {
			return 0, err
		}
		n += len(sp.responses)
	}
	out := strings.Join(lines, "")
	if _, diags := spec.LoadFile(file, []byte(out)); diags.HasErrors() {
		return 0, fmt.Errorf("%s: the recorded file would not load (%v); it is left as it was", file, diags)
	}
	info, err := os.Stat(file)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", file, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".record-*")
	if err != nil {
		return 0, fmt.Errorf("%s: %v", file, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(out); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("%s: %v", file, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("%s: %v", file, err)
	}
	_ = os.Chmod(tmp.Name(), info.Mode().Perm())
	if err := os.Rename(tmp.Name(), file); err != nil {
		return 0, fmt.Errorf("%s: %v", file, err)
	}
	return n, nil
}

// spliceCase writes one case's responses into lines (each with its "\n").
func spliceCase(lines []string, sp splice) ([]string, error) {
	node := sp.c.Test.CaseNode(sp.c.Index)
	if node.Kind != tree.Map || len(node.Fields) == 0 {
		return nil, fmt.Errorf("%s: case %q is not a mapping", sp.c.Pos, sp.c.Spec().Name)
	}
	first := node.Fields[0].KeyPos
	if flowStyle(lines, sp.c) {
		return nil, fmt.Errorf("%s: %s: the case is written in flow style ({…}); write it in block style (a key a line) to record it", sp.c.Pos, sp.c.Name)
	}
	indent := first.Col - 1
	text, err := responsesYAML(sp.responses, indent)
	if err != nil {
		return nil, err
	}
	if f := node.Field("responses"); f != nil {
		start := f.KeyPos.Line - 1
		end := blockEnd(lines, start, indent, true)
		return slices.Concat(lines[:start], []string{text}, lines[end:]), nil
	}
	// The case's first line is its `- name:` line; it ends where a line
	// is indented less than its fields.
	end := blockEnd(lines, first.Line-1, indent, false)
	return slices.Concat(lines[:end], []string{text}, lines[end:]), nil
}

// flowStyle reports whether a case is written {…}: its first key follows
// a brace or a comma rather than the list's dash.
func flowStyle(lines []string, c Case) bool {
	node := c.Test.CaseNode(c.Index)
	if len(node.Fields) == 0 {
		return true
	}
	first := node.Fields[0].KeyPos
	if first.Line < 1 || first.Line > len(lines) {
		return true
	}
	before := strings.TrimRight(lines[first.Line-1][:min(max(first.Col-1, 0), len(lines[first.Line-1]))], " ")
	return strings.HasSuffix(before, "{") || strings.HasSuffix(before, ",")
}

// blockEnd returns the index of the first line after the block that
// starts at line start: the first line (not blank, not a comment) indented
// less than indent (or, for a field, at indent and not an item of its
// list), less the blank and comment lines right before it, which belong
// to what follows.
func blockEnd(lines []string, start, indent int, field bool) int {
	end := len(lines)
	for i := start + 1; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r\n")
		t := strings.TrimLeft(l, " ")
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		ind := len(l) - len(t)
		if strings.HasPrefix(l, "---") || strings.HasPrefix(l, "...") || ind < indent ||
			(field && ind == indent && !strings.HasPrefix(t, "- ")) {
			end = i
			break
		}
	}
	for end > start+1 {
		t := strings.TrimSpace(lines[end-1])
		if t != "" && !strings.HasPrefix(t, "#") {
			break
		}
		end--
	}
	if end > 0 && !strings.HasSuffix(lines[end-1], "\n") {
		lines[end-1] += "\n"
	}
	return end
}

// responsesYAML writes `responses:` and its list, indented by indent.
func responsesYAML(rs []recordedResponse, indent int) (string, error) {
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range rs {
		m := &yaml.Node{Kind: yaml.MappingNode}
		m.Content = append(m.Content, scalar("status"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(r.status)})
		if len(r.headers) > 0 {
			h := &yaml.Node{Kind: yaml.MappingNode}
			for _, kv := range r.headers {
				h.Content = append(h.Content, scalar(kv[0]), scalar(kv[1]))
			}
			m.Content = append(m.Content, scalar("headers"), h)
		}
		if r.body != "" {
			m.Content = append(m.Content, scalar("body"), bodyNode(r.body))
		}
		list.Content = append(list.Content, m)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(list); err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", indent)
	var out strings.Builder
	out.WriteString(pad + "responses:\n")
	for line := range strings.SplitSeq(strings.TrimRight(b.String(), "\n"), "\n") {
		out.WriteString(pad + "  " + line + "\n")
	}
	return out.String(), nil
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// tokenKeys are body fields whose values are secrets whatever the
// credentials: a login's session token, an OAuth token response.
var tokenKeys = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true, "token": true,
	"accesstoken": true, "refreshtoken": true, "session_token": true, "sessiontoken": true,
	"client_secret": true, "password": true, "api_key": true, "apikey": true, "secret": true,
}

// bodyNode is a JSON body as a block YAML tree in the body's own key order
// (with token fields redacted), or the text as it is.
func bodyNode(body string) *yaml.Node {
	var doc yaml.Node
	t := strings.TrimSpace(body)
	if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && yaml.Unmarshal([]byte(body), &doc) == nil && len(doc.Content) == 1 {
		n := doc.Content[0]
		blockStyle(n)
		return n
	}
	n := scalar(body)
	if strings.Contains(body, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if tokenKeys[strings.ToLower(n.Content[i].Value)] && n.Content[i+1].Kind == yaml.ScalarNode && n.Content[i+1].Tag == "!!str" {
				n.Content[i+1].Value = "[redacted]"
			}
		}
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
