package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/schemas"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/suggest"
)

// A workspace keeps what is committed apart from what is not:
//
//   - schemaDir holds the kinds' schemas that the files' `# yaml-language-server:
//     $schema=` lines point at: committed, so every checkout has them;
//   - server.DataDir (.membrane) holds the local state of dev and serve (the
//     SQLite store, the development key that seals its secrets, the
//     development workspace secret): never committed, which the .gitignore
//     init writes says.
//
// Before, init wrote the schemas into .membrane/schemas, next to the state;
// such a workspace keeps working (see oldSchemaNote).
const (
	schemaDir    = "schemas"
	oldSchemaDir = ".membrane/schemas"
)

// gitignoreEntry keeps the local state out of git.
const gitignoreEntry = "/.membrane/"

const gitignoreText = "# Local state of membrane dev and serve: the development store, the key\n" +
	"# sealing its secrets and the development workspace secret. Never commit it.\n" +
	gitignoreEntry + "\n"

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
			"it, each pointing its editor at the schemas it writes into schemas/,\n" +
			"and a .gitignore that keeps .membrane/ out of git: dev and serve keep\n" +
			"their local state there, development keys included. Commit the rest.\n" +
			"It never overwrites a file (an existing .gitignore gets the line added).",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			key := yamlString(workspaceKey(dir))
			files := []scaffoldFile{
				{"membrane.yaml", spec.KindWorkspace, fmt.Sprintf("kind: Workspace\nkey: %s\n# The secret that signs tenant tokens is read from this variable.\nsecretEnv: MEMBRANE_WORKSPACE_SECRET\nstore: sqlite:.membrane/membrane.db\n", key)},
				{"universal/actions/create-contact.yaml", spec.KindUniversalAction, universalCreateContact},
			}
			files = append(files, connectorFiles("example")...)
			files = append(files, actionFiles("connectors/example", "example", "create-contact", "create-contact", universalContract, scaffoldAuth("example"))...)
			if err := writeScaffold(cmd, dir, files); err != nil {
				return err
			}
			return writeGitignore(cmd, dir)
		},
	}
}

// writeGitignore writes dir/.gitignore keeping the local state out of
// git, or adds the line to the one there unless it has it.
func writeGitignore(cmd *cobra.Command, dir string) error {
	p := filepath.Join(dir, ".gitignore")
	b, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.WriteFile(p, []byte(gitignoreText), 0o644); err != nil {
			return usageError("%v", err)
		}
		fmt.Fprintln(cmd.OutOrStdout(), "wrote", p)
		return nil
	case err != nil:
		return usageError("%v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch strings.TrimSpace(line) {
		case ".membrane", ".membrane/", "/.membrane", "/.membrane/", ".membrane/*", "/.membrane/*":
			return nil
		}
	}
	text := string(b)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if err := os.WriteFile(p, []byte(text+gitignoreText), 0o644); err != nil {
		return usageError("%v", err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), "added", gitignoreEntry, "to", p)
	return nil
}

// oldSchemaNote is a note for a workspace laid out by an earlier init,
// with its schemas among the local state; empty for others.
func oldSchemaNote(dir string) string {
	if info, err := os.Stat(filepath.Join(dir, oldSchemaDir)); err != nil || !info.IsDir() {
		return ""
	}
	return fmt.Sprintf("note: %s holds editor schemas written by an earlier membrane init. .membrane/ is now for local state only\n"+
		"(the store and development keys: keep it out of git); the state stays where it is. To move the schemas, run\n"+
		"'membrane schema --out %s' and change the files' $schema= lines from %s/ to %s/.",
		filepath.Join(dir, oldSchemaDir), filepath.Join(dir, schemaDir), oldSchemaDir, schemaDir)
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
				if err := writeScaffold(cmd, dir, connectorFiles(args[1])); err != nil {
					return err
				}
				noteOldSchemas(cmd, dir)
				return nil
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
	ws, diags := layers.Load(dir)
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
			return usageError("unknown universal action %q%s", implements, suggest.DidYouMean(implements, keys))
		}
		contract = contractOf(ua)
	}
	rel, err := filepath.Rel(dir, filepath.Dir(c.Source.File))
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = filepath.Join("connectors", connector)
	}
	if err := writeScaffold(cmd, dir, actionFiles(filepath.ToSlash(rel), connector, name, implements, contract, authOf(connector, c))); err != nil {
		return err
	}
	noteOldSchemas(cmd, dir)
	return nil
}

func noteOldSchemas(cmd *cobra.Command, dir string) {
	if n := oldSchemaNote(dir); n != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), n)
	}
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

// yamlString is s as a YAML value that reads back as the string s: plain
// when it does (acme), quoted otherwise (a directory named 2024 gives the
// key "2024", not the number).
func yamlString(s string) string {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err == nil && v == s {
		return s
	}
	return strconv.Quote(s)
}

// writeScaffold writes files under dir, each after its schema line, and
// the schemas under dir/schemas; it writes nothing when one of the files
// exists.
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
