package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/schemas"
	"github.com/membrane-dev/membrane/spec"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema [KIND]",
		Short: "Print the JSON Schema of a file kind, or list the kinds",
		Long: "schema prints the JSON Schema (draft 2020-12) of one file kind, for\n" +
			"editors and other tools. Without a kind it lists each kind with the URL\n" +
			"a `# yaml-language-server: $schema=` line can point at.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if len(args) == 0 {
				for _, k := range spec.Kinds {
					cmd.Printf("%-20s %s\n", k, schemas.URL(k))
				}
				return nil
			}
			b, ok := schemas.Get(args[0])
			if !ok {
				return usageError("unknown kind %q; use one of %s", args[0], strings.Join(spec.Kinds, ", "))
			}
			_, err := out.Write(b)
			return err
		},
	}
}
