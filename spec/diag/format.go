package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

// Formats a diagnostic list can be written in.
var Formats = []string{"text", "json", "github", "sarif"}

// Write writes diagnostics in one of Formats.
func Write(w io.Writer, format string, l List) error {
	switch format {
	case "text":
		return writeText(w, l)
	case "json":
		return writeJSON(w, l)
	case "github":
		return writeGitHub(w, l)
	case "sarif":
		return writeSARIF(w, l)
	}
	return fmt.Errorf("unknown format %q; use one of %s", format, strings.Join(Formats, ", "))
}

func writeText(w io.Writer, l List) error {
	for _, d := range l {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(w io.Writer, l List) error {
	errs, warns := l.Count()
	if l == nil {
		l = List{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Diagnostics List `json:"diagnostics"`
		Errors      int  `json:"errors"`
		Warnings    int  `json:"warnings"`
	}{l, errs, warns})
}

// writeGitHub writes workflow commands that GitHub Actions shows as
// annotations on the pull request's diff.
func writeGitHub(w io.Writer, l List) error {
	for _, d := range l {
		props := []string{"file=" + ghProperty(d.Pos.File)}
		if d.Pos.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", d.Pos.Line))
		}
		if d.Pos.Col > 0 {
			props = append(props, fmt.Sprintf("col=%d", d.Pos.Col))
		}
		props = append(props, "title="+ghProperty("membrane "+d.Rule))
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", d.Severity, strings.Join(props, ","), ghData(d.Message)); err != nil {
			return err
		}
	}
	return nil
}

var (
	ghDataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	ghPropertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

func ghData(s string) string     { return ghDataEscaper.Replace(s) }
func ghProperty(s string) string { return ghPropertyEscaper.Replace(s) }

// SARIF 2.1.0, the format code-scanning tools read.
type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
	// ColumnKind says columns count code points, as diagnostics do (SARIF's
	// default is UTF-16 code units).
	ColumnKind string `json:"columnKind"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID string `json:"id"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// artifactURI writes a file as SARIF wants it, a URI: a relative path as
// a percent-encoded relative reference ("my specs/a.yaml" →
// "my%20specs/a.yaml"), an absolute one as a file: URI.
func artifactURI(file string) string {
	p := file // slashed already, as every diagnostic's file is
	switch {
	case strings.HasPrefix(p, "/"):
		return (&url.URL{Scheme: "file", Path: p}).String()
	case len(p) >= 3 && p[1] == ':' && p[2] == '/' && ('A' <= p[0] && p[0] <= 'Z' || 'a' <= p[0] && p[0] <= 'z'): // C:/…
		return (&url.URL{Scheme: "file", Path: "/" + p}).String()
	}
	// String writes "./a:b.yaml" for "a:b.yaml", which would read as a scheme.
	return (&url.URL{Path: p}).String()
}

func writeSARIF(w io.Writer, l List) error {
	run := sarifRun{
		Tool:       sarifTool{Driver: sarifDriver{Name: "membrane", InformationURI: "https://membrane.dev", Rules: []sarifRule{}}},
		Results:    []sarifResult{},
		ColumnKind: "unicodeCodePoints",
	}
	var rules []string
	for _, d := range l {
		if !slices.Contains(rules, d.Rule) {
			rules = append(rules, d.Rule)
		}
		locs := []sarifLocation{}
		if d.Pos.File != "" {
			loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: artifactURI(d.Pos.File)}}}
			if d.Pos.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: d.Pos.Line, StartColumn: d.Pos.Col}
			}
			locs = append(locs, loc)
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: d.Rule, Level: d.Severity.String(),
			Message: sarifText{Text: d.Message}, Locations: locs,
		})
	}
	slices.Sort(rules)
	for _, r := range rules {
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: r})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Version: "2.1.0", Schema: "https://json.schemastore.org/sarif-2.1.0.json", Runs: []sarifRun{run}})
}
