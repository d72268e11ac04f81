package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/schemas"
	"github.com/membrane-dev/membrane/spec"
)

// schemaDir is where init (and new) write the kinds' schemas, for the
// `# yaml-language-server: $schema=` lines of the files they write.
const schemaDir = ".membrane/schemas"

var keyPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// scaffoldFile is a file to write, its path relative to the workspace.
type scaffoldFile struct {
	path, kind, body string
}

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a starter workspace that validates and passes its tests",
		Long: "init writes a starter workspace into DIR (the current directory by\n" +
			"default): membrane.yaml, a universal action, a connector with API key\n" +
			"auth, an action implementing the universal one and a ConnectorTest of\n" +
			"it, each pointing its editor at the schemas it writes into\n" +
			".membrane/schemas. It never overwrites a file.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			key := workspaceKey(dir)
			files := []scaffoldFile{
				{"membrane.yaml", spec.KindWorkspace, fmt.Sprintf("kind: Workspace\nkey: %s\n# The secret that signs tenant tokens is read from this variable.\nsecretEnv: MEMBRANE_WORKSPACE_SECRET\nstore: sqlite:.membrane/membrane.db\n", key)},
				{"universal/actions/create-contact.yaml", spec.KindUniversalAction, universalCreateContact},
			}
			files = append(files, connectorFiles("example")...)
			files = append(files, actionFiles("connectors/example", "example", "create-contact", "create-contact", universalContract)...)
			return writeScaffold(cmd, dir, files)
		},
	}
}

func newNewCmd() *cobra.Command {
	var dir, implements string
	cmd := &cobra.Command{
		Use:   "new connector NAME | new action CONNECTOR NAME [--implements UNIVERSAL]",
		Short: "Add a connector or an action, with a test, to a workspace",
		Long: "new connector NAME writes connectors/NAME/ (a connector with API key auth,\n" +
			"a ping action and its ConnectorTest). new action CONNECTOR NAME writes an\n" +
			"action of an existing connector and its ConnectorTest; with --implements it\n" +
			"keeps a universal action's contract. The files validate as written and\n" +
			"their tests pass; edit them from there. It never overwrites a file.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case args[0] == "connector" && len(args) == 2:
				if !keyPattern.MatchString(args[1]) {
					return usageError("connector name %q: use letters, digits, '_', '-' and '.', starting with a letter or digit", args[1])
				}
				if err := mustBeWorkspace(dir); err != nil {
					return err
				}
				return writeScaffold(cmd, dir, connectorFiles(args[1]))
			case args[0] == "action" && len(args) == 3:
				return newAction(cmd, dir, args[1], args[2], implements)
			}
			return usageError("use 'membrane new connector NAME' or 'membrane new action CONNECTOR NAME'")
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "workspace directory")
	cmd.Flags().StringVar(&implements, "implements", "", "universal action the new action implements")
	return cmd
}

func newAction(cmd *cobra.Command, dir, connector, name, implements string) error {
	if !keyPattern.MatchString(name) {
		return usageError("action name %q: use letters, digits, '_', '-' and '.', starting with a letter or digit", name)
	}
	ws, diags := spec.Load(dir)
	if err := ioTrouble(diags); err != nil {
		return err
	}
	c := ws.Connectors[connector]
	if c == nil {
		return usageError("unknown connector %q%s", connector, connectorHint(ws, connector, dir))
	}
	if ws.Action(connector, name) != nil {
		return usageError("connector %q already has an action %q, at %s", connector, name, ws.Action(connector, name).Source.Pos)
	}
	contract := pingContract
	if implements != "" {
		ua := ws.UniversalActions[implements]
		if ua == nil {
			keys := mapsKeys(ws.UniversalActions)
			slices.Sort(keys)
			return usageError("unknown universal action %q%s", implements, spec.Suggest(implements, keys))
		}
		contract = contractOf(ua)
	}
	rel, err := filepath.Rel(dir, filepath.Dir(c.Source.File))
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = filepath.Join("connectors", connector)
	}
	return writeScaffold(cmd, dir, actionFiles(filepath.ToSlash(rel), connector, name, implements, contract))
}

func mapsKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// mustBeWorkspace refuses a directory that does not exist.
func mustBeWorkspace(dir string) error {
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return usageError("%s is not a directory; run 'membrane init %s' first", dir, dir)
	}
	return nil
}

// workspaceKey derives a workspace key from the directory's name.
func workspaceKey(dir string) string {
	abs, _ := filepath.Abs(dir)
	k := strings.Trim(regexp.MustCompile(`[^a-zA-Z0-9_.-]+`).ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "-._")
	if !keyPattern.MatchString(k) {
		return "my-integrations"
	}
	return k
}

// writeScaffold writes files under dir, each after its schema line, and
// the schemas under dir/.membrane/schemas; it writes nothing when one of
// the files exists.
func writeScaffold(cmd *cobra.Command, dir string, files []scaffoldFile) error {
	var exist []string
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, f.path)); err == nil {
			exist = append(exist, filepath.Join(dir, f.path))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return usageError("%v", err)
		}
	}
	if len(exist) > 0 {
		return usageError("not overwriting %s; move %s away or pick another directory", strings.Join(exist, ", "), pronoun(len(exist)))
	}
	sdir := filepath.Join(dir, schemaDir)
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return usageError("%v", err)
	}
	for _, k := range spec.Kinds {
		b, _ := schemas.Get(k)
		if err := os.WriteFile(filepath.Join(sdir, schemas.FileName(k)), b, 0o644); err != nil {
			return usageError("%v", err)
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return usageError("%v", err)
		}
		up := strings.Repeat("../", strings.Count(f.path, "/"))
		body := "# yaml-language-server: $schema=" + up + schemaDir + "/" + schemas.FileName(f.kind) + "\n" + f.body
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return usageError("%v", err)
		}
		fmt.Fprintln(cmd.OutOrStdout(), "wrote", p)
	}
	return nil
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
