package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/schemas"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/suggest"
)

func newSchemaCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "schema [KIND]",
		Short: "Print the JSON Schema of a file kind, or list the kinds",
		Long: "schema prints the JSON Schema (draft 2020-12) of one file kind, for\n" +
			"editors and other tools. Without a kind it lists each kind with the URL\n" +
			"a `# yaml-language-server: $schema=` line can point at. With --out it\n" +
			"writes them all into a directory, so the lines can point at local files:\n" +
			"a workspace keeps them in schemas/ (membrane init writes them there),\n" +
			"committed with the files that point at them.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out != "" {
				return writeSchemas(cmd, out)
			}
			if len(args) == 0 {
				for _, k := range spec.Kinds {
					cmd.Printf("%-20s %s\n", k, schemas.URL(k))
				}
				return nil
			}
			kind := kindNamed(args[0])
			b, ok := schemas.Get(kind)
			if !ok {
				hint := suggest.DidYouMean(args[0], spec.Kinds)
				if hint == "" {
					hint = "; use one of " + strings.Join(spec.Kinds, ", ")
				}
				return usageError("unknown kind %q%s", args[0], hint)
			}
			_, err := cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write every kind's schema into `DIR` (a workspace's schemas/), for the files' $schema= lines to point at")
	return cmd
}

// writeSchemas writes the embedded schemas into dir, one file per kind.
func writeSchemas(cmd *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	for _, k := range spec.Kinds {
		b, _ := schemas.Get(k)
		p := filepath.Join(dir, schemas.FileName(k))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return &exitError{code: exitUsage, msg: err.Error()}
		}
		fmt.Fprintln(cmd.OutOrStdout(), p)
	}
	return nil
}

// kindNamed is the kind a name given on the command line means: the kind
// in any case (action), or its schema's file name with or without the
// extension (universal-action); otherwise the name as given.
func kindNamed(name string) string {
	for _, k := range spec.Kinds {
		f := schemas.FileName(k)
		if strings.EqualFold(name, k) || name == f || name == strings.TrimSuffix(f, ".schema.json") {
			return k
		}
	}
	return name
}
