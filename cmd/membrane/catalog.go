package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/catalog"
	"github.com/membrane-dev/membrane/spec/diag"
)

func newCatalogCmd() *cobra.Command {
	var format, vendorCases, out, madeBy string
	cmd := &cobra.Command{
		Use:   "catalog [DIR]...",
		Short: "List the connectors of a workspace with their auth, actions, events and tests",
		Long: "catalog loads a workspace (the current directory by default) and lists\n" +
			"its connectors × universal actions × events × auth modes, with how many\n" +
			"offline test cases each connector has. With --vendor-cases DIR it also\n" +
			"counts the cases run against each vendor's own API description, read\n" +
			"from DIR/<connector>.yaml (a top-level `cases:` list).\n\n" +
			"The workspace must load without errors; run `membrane validate` first.",
		Example: "  membrane catalog --format markdown --vendor-cases connectors/testdata/prism connectors > docs/catalog.md",
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "markdown" && format != "json" {
				return usageError("unknown --format %q; use markdown or json", format)
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
			if format == "json" {
				enc := json.NewEncoder(&b)
				enc.SetIndent("", "  ")
				err = enc.Encode(c)
			} else {
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
	cmd.Flags().StringVar(&vendorCases, "vendor-cases", "", "directory of <connector>.yaml files listing the cases run against each vendor's API description")
	return cmd
}
