package testkit

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteFile writes text to path, making its directories.
func WriteFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Workspace writes files (path → text, relative to a new temporary
// directory) with every placeholder of repl replaced, and returns the
// directory.
func Workspace(t testing.TB, files, repl map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		WriteFile(t, filepath.Join(dir, name), replace(text, repl))
	}
	return dir
}

// CopyWorkspace copies the tree src into a new temporary directory with
// every placeholder of repl replaced, and returns the directory.
func CopyWorkspace(t testing.TB, src string, repl map[string]string) string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		files[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return Workspace(t, files, repl)
}

func replace(text string, repl map[string]string) string {
	for k, v := range repl {
		text = strings.ReplaceAll(text, k, v)
	}
	return text
}
