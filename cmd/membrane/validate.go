package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec/diag"
)

func newValidateCmd() *cobra.Command {
	var format string
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate [DIR|FILE]...",
		Short: "Check every spec file of a workspace and report all problems",
		Long: "validate loads every *.yaml and *.yml file under the given directories\n" +
			"(the current one by default), checks each against its kind's schema,\n" +
			"checks references between files and compiles every expression. It\n" +
			"reports every problem as path:line:col: severity: message [rule].\n\n" +
			"Exit status: 0 when clean, 1 when any error (or warning, with --strict),\n" +
			"2 on bad usage or when a file cannot be read.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(diag.Formats, format) {
				return usageError("unknown --format %q; use one of %s", format, strings.Join(diag.Formats, ", "))
			}
			if len(args) == 0 {
				args = []string{"."}
			}
			if os.Getenv("GOGC") == "" {
				// A validation is short and its heap small (tens of MB for a
				// thousand files): collect less often, for a quarter less CPU.
				debug.SetGCPercent(400)
			}
			ws, diags := layers.Load(args...)
			if err := diag.Write(cmd.OutOrStdout(), format, diags); err != nil {
				return &exitError{code: exitUsage, msg: err.Error()}
			}
			errs, warns := diags.Count()
			if format == "text" {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s, %s in %s\n", plural(errs, "error"), plural(warns, "warning"), plural(len(ws.Files), "file"))
			}
			switch {
			case slices.ContainsFunc(diags, func(d diag.Diagnostic) bool { return d.Rule == "io" }):
				return &exitError{code: exitUsage}
			case errs > 0 || (strict && warns > 0):
				return &exitError{code: exitFail}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: "+strings.Join(diag.Formats, ", "))
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on warnings too")
	return cmd
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
