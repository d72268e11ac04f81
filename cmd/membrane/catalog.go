package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/catalog"
	"github.com/membrane-dev/membrane/spec/diag"
)

func newCatalogCmd() *cobra.Command {
	var format, vendorCases, out, madeBy, into string
	cmd := &cobra.Command{
		Use:   "catalog [DIR]...",
		Short: "List the connectors of a workspace with their auth, actions, events and tests",
		Long: "catalog loads a workspace (the current directory by default) and lists\n" +
			"its connectors × universal actions × events × auth modes, with how many\n" +
			"offline test cases each connector has. With --vendor-cases DIR it also\n" +
			"counts the cases run against each vendor's own API description, read\n" +
			"from DIR/<connector>.yaml (a top-level `cases:` list).\n\n" +
			"--format summary gives the short form for a README: a line a connector,\n" +
			"linked to its directory, and each universal action's implementers.\n" +
			"--into FILE writes it into FILE between the lines\n" +
			"  " + catalog.BeginMarker + "\n  " + catalog.EndMarker + "\n" +
			"leaving the rest of FILE as it is.\n\n" +
			"The workspace must load without errors; run `membrane validate` first.",
		Example: "  membrane catalog --format markdown --vendor-cases connectors/testdata/prism connectors > docs/catalog.md\n" +
			"  membrane catalog --format summary --into README.md connectors",
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "markdown" && format != "json" && format != "summary" {
				return usageError("unknown --format %q; use markdown, json or summary", format)
			}
			if into != "" && format != "summary" {
				return usageError("--into writes the summary into a file; give --format summary")
			}
			if into != "" && out != "" {
				return usageError("give --into or --output, not both")
			}
			if len(args) == 0 {
				args = []string{"."}
			}
			ws, diags := layers.Load(args...)
			if errs, _ := diags.Count(); errs > 0 {
				_ = diag.Write(cmd.ErrOrStderr(), "text", diags)
				return &exitError{code: exitFail, msg: fmt.Sprintf("the workspace has %s; fix them first (membrane validate)", plural(errs, "error"))}
			}
			c, err := catalog.Build(ws, vendorCases)
			if err != nil {
				return &exitError{code: exitUsage, msg: err.Error()}
			}
			var b bytes.Buffer
			switch format {
			case "json":
				enc := json.NewEncoder(&b)
				enc.SetIndent("", "  ")
				err = enc.Encode(c)
			case "summary":
				from := "."
				if into != "" {
					from = filepath.Dir(into)
				}
				if err = catalog.WriteSummary(&b, c, from); err != nil {
					return err
				}
				if into != "" {
					return spliceInto(into, b.String())
				}
			default:
				if madeBy == "" {
					madeBy = "membrane " + strings.Join(os.Args[1:], " ")
				}
				err = catalog.WriteMarkdown(&b, c, madeBy)
			}
			if err != nil {
				return err
			}
			if out != "" {
				return os.WriteFile(out, b.Bytes(), 0o644)
			}
			_, err = cmd.OutOrStdout().Write(b.Bytes())
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "markdown", "output format: markdown or json")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&madeBy, "made-by", "", "markdown: the command the page names as its source (this command line by default)")
	cmd.Flags().StringVar(&into, "into", "", "summary: rewrite the catalogue's block of this file (a README) in place")
	cmd.Flags().StringVar(&vendorCases, "vendor-cases", "", "directory of <connector>.yaml files listing the cases run against each vendor's API description")
	return cmd
}

// spliceInto rewrites the catalogue's block of file.
func spliceInto(file, block string) error {
	doc, err := os.ReadFile(file)
	if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	out, err := catalog.Splice(doc, block)
	if err != nil {
		return &exitError{code: exitUsage, msg: file + ": " + err.Error()}
	}
	if bytes.Equal(out, doc) {
		return nil
	}
	return os.WriteFile(file, out, 0o644)
}
