package catalog

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// WriteMarkdown writes c as the page docs/catalog.md holds. command is the
// command line that made it, named on the page so a reader knows how to
// make it again.
func WriteMarkdown(w io.Writer, c *Catalog, command string) error {
	var b strings.Builder
	b.WriteString("# Connector catalogue\n\n")
	fmt.Fprintf(&b, "Generated from the files by `%s`; do not edit by hand.\n\n", command)

	var actions, events, offline, vendor int
	for _, con := range c.Connectors {
		actions += len(con.Actions)
		events += len(con.Events)
		offline += con.OfflineCases
		vendor += con.VendorCases
	}
	fmt.Fprintf(&b, "%s, %s, %s; %s, %s against the vendors' own API descriptions.\n\n",
		count(len(c.Connectors), "connector"), count(actions, "action"), count(events, "event"),
		count(offline, "offline test case"), count(vendor, "case"))

	b.WriteString("## Connectors\n\n")
	b.WriteString("| connector | auth | actions | universal | events | offline cases | vendor-description cases |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|\n")
	for _, con := range c.Connectors {
		fmt.Fprintf(&b, "| %s (`%s`) | %s | %d | %d | %d | %d | %d |\n", cell(con.Name), con.Key,
			cell(strings.Join(con.AuthModes, ", ")), len(con.Actions), len(con.Implements), len(con.Events),
			con.OfflineCases, con.VendorCases)
	}

	for _, kind := range []string{"action", "event"} {
		fmt.Fprintf(&b, "\n## Universal %ss\n\n", kind)
		fmt.Fprintf(&b, "| universal %s | implementers | how many |\n|---|---|--:|\n", kind)
		for _, u := range c.Universal {
			if u.Kind != kind {
				continue
			}
			impl := "—"
			if len(u.Implementers) > 0 {
				impl = strings.Join(u.Implementers, ", ")
			}
			fmt.Fprintf(&b, "| `%s` | %s | %d |\n", u.Key, impl, len(u.Implementers))
		}
	}

	b.WriteString("\n## Actions and events by connector\n")
	for _, con := range c.Connectors {
		fmt.Fprintf(&b, "\n### %s\n\n", cell(con.Name))
		if con.Description != "" {
			fmt.Fprintf(&b, "%s\n\n", cell(con.Description))
		}
		fmt.Fprintf(&b, "- auth: %s\n", strings.Join(con.AuthModes, ", "))
		fmt.Fprintf(&b, "- actions: %s\n", codeList(con.Actions))
		fmt.Fprintf(&b, "- events: %s\n", codeList(con.Events))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func codeList(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return "`" + strings.Join(keys, "`, `") + "`"
}

// cell keeps a table cell on one line and its pipes literal.
func cell(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// WriteSummary writes the catalogue's short form for a README: one line a
// connector (linked to its directory, where its README is, from the
// directory from) with its counts, then each universal action and event
// with its implementers.
func WriteSummary(w io.Writer, c *Catalog, from string) error {
	var b strings.Builder
	b.WriteString("| connector | actions | events | universal | offline cases | vendor-description cases |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|\n")
	for _, con := range c.Connectors {
		vendor := "—"
		if con.VendorCases > 0 {
			vendor = fmt.Sprint(con.VendorCases)
		}
		fmt.Fprintf(&b, "| [%s](%s) | %d | %d | %d | %d | %s |\n", cell(con.Name), link(from, con.Dir),
			len(con.Actions), len(con.Events), len(con.Implements), con.OfflineCases, vendor)
	}
	b.WriteString("\n")
	for _, kind := range []string{"action", "event"} {
		fmt.Fprintf(&b, "Universal %ss and their implementers:\n\n", kind)
		for _, u := range c.Universal {
			if u.Kind != kind {
				continue
			}
			impl := "none yet"
			if len(u.Implementers) > 0 {
				impl = strings.Join(u.Implementers, ", ")
			}
			fmt.Fprintf(&b, "- `%s` (%d): %s\n", u.Key, len(u.Implementers), impl)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, strings.TrimSuffix(b.String(), "\n"))
	return err
}

// The markers around the block of a document that `membrane catalog
// --into` rewrites; the rest of the document is left as it is.
const (
	BeginMarker = "<!-- membrane catalog: generated, do not edit -->"
	EndMarker   = "<!-- end membrane catalog -->"
)

// Splice replaces what lies between the markers of doc with block. Each
// marker is a line of its own (so prose may name it), there once, the
// begin marker first.
func Splice(doc []byte, block string) ([]byte, error) {
	s := string(doc)
	begins, ends := markerLines(s, BeginMarker), markerLines(s, EndMarker)
	switch {
	case len(begins) == 0 || len(ends) == 0:
		return nil, fmt.Errorf("the file has no block to rewrite: put the lines %q and %q, each on a line of its own, where the catalogue goes", BeginMarker, EndMarker)
	case len(begins) > 1 || len(ends) > 1:
		return nil, fmt.Errorf("the file has more than one line %q or %q; keep one of each", BeginMarker, EndMarker)
	case ends[0] < begins[0]:
		return nil, fmt.Errorf("%q comes before %q; swap them", EndMarker, BeginMarker)
	}
	var b strings.Builder
	b.WriteString(s[:begins[0]+len(BeginMarker)])
	b.WriteString("\n\n")
	b.WriteString(strings.TrimSpace(block))
	b.WriteString("\n\n")
	b.WriteString(s[ends[0]:])
	return []byte(b.String()), nil
}

// markerLines gives the offsets of the lines of s that are marker alone.
func markerLines(s, marker string) []int {
	var at []int
	for off := 0; off < len(s); {
		line, _, _ := strings.Cut(s[off:], "\n")
		if strings.TrimRight(line, "\r") == marker {
			at = append(at, off)
		}
		off += len(line) + 1
	}
	return at
}

// link is dir as a relative link from the directory from, with forward
// slashes; dir as it is when either cannot be made absolute.
func link(from, dir string) string {
	absFrom, err1 := filepath.Abs(from)
	absDir, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return filepath.ToSlash(dir)
	}
	rel, err := filepath.Rel(absFrom, absDir)
	if err != nil {
		return filepath.ToSlash(dir)
	}
	return filepath.ToSlash(rel)
}
