package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/spec/internal/wsgen"
	"github.com/membrane-dev/membrane/spec/tree"
)

// TestLoaderMatchesLoad: on every golden workspace, a Loader reports what
// Load does, on a first load and on a second one served from its cache.
func TestLoaderMatchesLoad(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/bad/*")
	dirs = append(dirs, "testdata/good", "../examples/quickstart")
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, wantDiags := Load(dir)
			l := NewLoader()
			for round := range 2 {
				ws, diags := l.Load(dir)
				if got, w := diagText(diags), diagText(wantDiags); got != w {
					t.Fatalf("round %d: Loader reported:\n%s\nLoad reported:\n%s", round, got, w)
				}
				if !slices.Equal(ws.Files, want.Files) {
					t.Fatalf("round %d: files %v, want %v", round, ws.Files, want.Files)
				}
			}
			if n := l.Parses(); n > int64(len(want.Files)) {
				t.Errorf("parsed %d times for %d files: the second load parsed again", n, len(want.Files))
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoaderReparsesOnlyWhatChanged follows one workspace through edits:
// a changed file, a touched one, one rewritten behind the stamps' back, a
// new one and a removed one.
func TestLoaderReparsesOnlyWhatChanged(t *testing.T) {
	dir := t.TempDir()
	cfg := wsgen.Config{Connectors: 4, Actions: 5}
	if err := wsgen.Write(dir, cfg); err != nil {
		t.Fatal(err)
	}
	l := NewLoader()
	load := func(wantParses int64, wantChanged ...string) *Workspace {
		t.Helper()
		before := l.Parses()
		ws, diags := l.Load(dir)
		if diags.HasErrors() {
			t.Fatalf("diagnostics:\n%s", diagText(diags))
		}
		if got := l.Parses() - before; got != wantParses {
			t.Errorf("parsed %d files, want %d", got, wantParses)
		}
		var got []string
		for _, c := range l.Changed() {
			got = append(got, strings.TrimPrefix(c, filepath.ToSlash(dir)+"/"))
		}
		if !slices.Equal(got, wantChanged) && (len(got) > 0 || len(wantChanged) > 0) {
			t.Errorf("changed %q, want %q", got, wantChanged)
		}
		return ws
	}
	if l.Load(dir); l.Parses() != int64(cfg.Files()) || len(l.Changed()) != cfg.Files() {
		t.Fatalf("the first load parsed %d files and found %d changed, want %d", l.Parses(), len(l.Changed()), cfg.Files())
	}
	load(0)
	if l.Stale(dir) {
		t.Error("Stale with nothing changed")
	}

	const name = "connectors/app001/actions/get-contact.yaml"
	path := filepath.Join(dir, name)
	orig := must(os.ReadFile(path))
	edited := strings.Replace(string(orig), "key: get-contact", "key: get-contact\ndescription: edited", 1)
	writeFile(t, path, edited)
	if !l.Stale(dir) {
		t.Error("not Stale after a save")
	}
	if d := load(1, name).Action("app001", "get-contact").Description; d != "edited" {
		t.Errorf("description %q after the edit", d)
	}

	// Saved again unchanged: read (the stamp moved), not parsed.
	future := time.Now().Add(time.Hour)
	must(0, os.Chtimes(path, future, future))
	load(0)

	// The same size and time, other content: only Invalidate tells.
	info := must(os.Stat(path))
	writeFile(t, path, strings.Replace(edited, "edited", "EDITED", 1))
	must(0, os.Chtimes(path, info.ModTime(), info.ModTime()))
	load(0)
	l.Invalidate(filepath.Join(dir, "connectors/app001"))
	if d := load(1, name).Action("app001", "get-contact").Description; d != "EDITED" {
		t.Errorf("description %q after Invalidate", d)
	}

	writeFile(t, filepath.Join(dir, "extra.yaml"), "kind: UniversalAction\nkey: extra\ninput: {type: object}\noutput: {type: object}\n")
	load(1, "extra.yaml")
	must(0, os.Remove(filepath.Join(dir, "extra.yaml")))
	if !l.Stale(dir) {
		t.Error("not Stale after a removal")
	}
	if ws := load(0, "extra.yaml"); ws.UniversalActions["extra"] != nil {
		t.Error("a removed file's element is still loaded")
	}
}

// TestLoaderReportsWhatLoadDoes: a file that goes bad and good again is
// reported, then forgotten.
func TestLoaderReportsWhatLoadDoes(t *testing.T) {
	dir := t.TempDir()
	if err := wsgen.Write(dir, wsgen.Config{Connectors: 1, Actions: 2}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "connectors/app000/connector.yaml")
	good := string(must(os.ReadFile(path)))
	l := NewLoader()
	l.Load(dir)
	writeFile(t, path, good+"bogus: [\n")
	_, diags := l.Load(dir)
	_, want := Load(dir)
	if !diags.HasErrors() || diagText(diags) != diagText(want) {
		t.Fatalf("Loader reported:\n%s\nLoad reported:\n%s", diagText(diags), diagText(want))
	}
	writeFile(t, path, good)
	if _, diags := l.Load(dir); diags.HasErrors() {
		t.Fatalf("still reported once fixed:\n%s", diagText(diags))
	}
}

// TestLoadInvalidated: trusting the watcher, a load reads only the files
// named, notices new and removed ones, and misses what it was not told
// (which Load, or Stale, then finds).
func TestLoadInvalidated(t *testing.T) {
	dir := t.TempDir()
	if err := wsgen.Write(dir, wsgen.Config{Connectors: 2, Actions: 2}); err != nil {
		t.Fatal(err)
	}
	l := NewLoader()
	l.Load(dir)
	a := filepath.Join(dir, "connectors/app000/actions/create-contact.yaml")
	b := filepath.Join(dir, "connectors/app001/actions/create-contact.yaml")
	edit := func(path, desc string) {
		text := string(must(os.ReadFile(path)))
		writeFile(t, path, strings.Replace(text, "key: create-contact", "key: create-contact\ndescription: "+desc, 1))
	}
	edit(a, "told")
	edit(b, "untold")
	l.Invalidate(a)
	ws, _ := l.LoadInvalidated(dir)
	if got := ws.Action("app000", "create-contact").Description; got != "told" {
		t.Errorf("the invalidated file reads %q", got)
	}
	if got := ws.Action("app001", "create-contact").Description; got != "" {
		t.Errorf("a file not invalidated was read: %q", got)
	}
	if !l.Stale(dir) {
		t.Error("Stale misses the untold save")
	}
	if ws, _ := l.Load(dir); ws.Action("app001", "create-contact").Description != "untold" {
		t.Error("Load misses the untold save")
	}

	extra := filepath.Join(dir, "connectors/app001/extra.yaml")
	writeFile(t, extra, "kind: UniversalAction\nkey: extra\ninput: {type: object}\noutput: {type: object}\n")
	l.Invalidate(extra)
	if ws, _ := l.LoadInvalidated(dir); ws.UniversalActions["extra"] == nil {
		t.Error("a new file invalidated is not loaded")
	}
	must(0, os.Remove(a))
	l.Invalidate(a)
	if ws, _ := l.LoadInvalidated(dir); ws.Action("app000", "create-contact") != nil || !slices.Contains(l.Changed(), displayPath(a)) {
		t.Errorf("a removed file is still loaded, or not among the changed %v", l.Changed())
	}
}

// TestLoaderUnsettled: a file written again after a load read it is named
// as unsettled until a load reads it again; one left alone is not.
func TestLoaderUnsettled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "u.yaml")
	text := "kind: UniversalAction\nkey: u\ninput: {type: object}\noutput: {type: object}\ndescription: |\n  one\n"
	writeFile(t, path, text)
	l := NewLoader()
	if _, diags := l.Load(dir); diags.HasErrors() {
		t.Fatal(diags)
	}
	if u := l.Unsettled(); len(u) != 0 {
		t.Fatalf("unsettled %v right after a load, want none", u)
	}
	writeFile(t, path, text+"  two\n")
	if u := l.Unsettled(); len(u) != 1 || !strings.HasSuffix(u[0], "u.yaml") {
		t.Fatalf("unsettled %v after a write, want u.yaml", u)
	}
	if _, diags := l.Load(dir); diags.HasErrors() {
		t.Fatal(diags)
	}
	if u := l.Unsettled(); len(u) != 0 {
		t.Fatalf("unsettled %v after a second load, want none", u)
	}
}

// TestLoaderNeverReadsPastTheLimit: a file larger than tree.MaxFileSize is
// reported, with its size, and not parsed.
func TestLoaderNeverReadsPastTheLimit(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "big.yaml"), "kind: UniversalAction\nkey: big\ndescription: |\n"+strings.Repeat("  x\n", tree.MaxFileSize/4+1))
	l := NewLoader()
	_, diags := l.Load(dir)
	if len(diags) != 1 || diags[0].Rule != "file-too-large" || !strings.Contains(diags[0].Message, "4.0 MiB") {
		t.Errorf("diagnostics %v, want one file-too-large", diags)
	}
	if n := l.Parses(); n != 0 {
		t.Errorf("parsed %d files, want none", n)
	}
}
