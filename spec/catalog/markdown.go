package catalog

import (
	"fmt"
	"io"
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
