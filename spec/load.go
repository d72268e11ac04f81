package spec

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/membrane-dev/membrane/spec/diag"

	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// Load reads every *.yaml and *.yml file under the given files and
// directories, checks each against its kind's schema, then checks the
// workspace as a whole: references between files, inline JSON Schemas and
// the contracts between layers. It reports every problem it finds; the
// workspace holds whatever could be read. Its expressions are compiled by
// the next step, spec/compile: layers.Load runs the whole pipeline, and is
// what every caller uses.
func Load(paths ...string) (*Workspace, diag.List) {
	files, diags := findFiles(paths)
	return build(parseFiles(files), diags)
}

// build indexes parsed files into a workspace and runs the checks that need
// the whole of it. Loader shares it, with files it may not have re-read.
func build(parsed []parsedFile, diags diag.List) (*Workspace, diag.List) {
	ws := newWorkspace()
	for _, pf := range parsed {
		ws.Files = append(ws.Files, pf.name)
		diags = append(diags, pf.diags...)
		for _, el := range pf.elements {
			ws.add(el, &diags)
		}
	}
	check(ws, &diags)
	diags.Sort()
	return ws, diags
}

// LoadFile reads the documents of one file, checked against their kinds'
// schemas but not against a workspace. It serves files given on their own,
// such as a connection override passed on the command line.
func LoadFile(name string, data []byte) ([]any, diag.List) {
	pf := parseFile(name, data)
	// A broken document has its errors; it is not an element to use.
	els := slices.DeleteFunc(pf.elements, func(el any) bool { _, ok := el.(broken); return ok })
	return els, pf.diags
}

// skipDir reports directories a workspace never holds specs in: hidden ones
// (.git, .membrane state), dependency trees, and testdata (as for the go
// tool: fixtures of the workspace's own tests, such as the catalogue's
// Prism cases).
func skipDir(name string) bool {
	return name != "." && name != ".." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor" || name == "testdata")
}

func isSpecFile(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// displayPath makes a path relative to the working directory when it lies
// below it, so diagnostics read as the user typed them.
func displayPath(p string) string {
	if filepath.IsAbs(p) {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
				return filepath.ToSlash(rel)
			}
		}
	}
	return filepath.ToSlash(filepath.Clean(p))
}

type fileRef struct{ path, name string }

func findFiles(paths []string) ([]fileRef, diag.List) {
	var diags diag.List
	var files []fileRef
	seen := map[string]bool{}
	addFile := func(p string) {
		abs, _ := filepath.Abs(p)
		if !seen[abs] {
			seen[abs] = true
			files = append(files, fileRef{path: p, name: displayPath(p)})
		}
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			diags.Errorf(diag.Pos{File: displayPath(root)}, "io", "cannot read: %v", unwrapPathError(err))
			continue
		}
		if !info.IsDir() {
			addFile(root)
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				diags.Errorf(diag.Pos{File: displayPath(p)}, "io", "cannot read: %v", unwrapPathError(err))
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if p != root && skipDir(d.Name()) {
					return fs.SkipDir
				}
				return nil
			}
			// Hidden files are editors' (Emacs's .#lock links, macOS's
			// ._ forks), like hidden directories.
			if isSpecFile(d.Name()) && !strings.HasPrefix(d.Name(), ".") {
				addFile(p)
			}
			return nil
		})
		if err != nil {
			diags.Errorf(diag.Pos{File: displayPath(root)}, "io", "cannot read: %v", unwrapPathError(err))
		}
	}
	slices.SortFunc(files, func(a, b fileRef) int { return strings.Compare(a.name, b.name) })
	return files, diags
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type parsedFile struct {
	name     string
	elements []any
	diags    diag.List
}

// parseFiles reads, parses and shape-checks files in parallel; the result
// keeps the files' order.
func parseFiles(files []fileRef) []parsedFile {
	out := make([]parsedFile, len(files))
	parallel(len(files), func(i int) { out[i] = readAndParse(files[i]) })
	return out
}

// parallel runs f(0) … f(n-1) on as many goroutines as there are CPUs.
func parallel(n int, f func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, n)) {
		wg.Go(func() {
			for i := range work {
				f(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

func readAndParse(f fileRef) parsedFile {
	data, _, pf, ok := readSpecFile(f)
	if !ok {
		return pf
	}
	return parseFile(f.name, data)
}

// readSpecFile reads a file with the size limit applied before reading,
// and returns what it stat-ed first (nil when that failed). When the file
// cannot be used (not a regular file, too large, unreadable) ok is false
// and pf holds the diagnostic.
func readSpecFile(f fileRef) (data []byte, info fs.FileInfo, pf parsedFile, ok bool) {
	info, err := os.Lstat(f.path)
	if err == nil && info.Mode()&fs.ModeSymlink != 0 {
		info, err = os.Stat(f.path) // follow, but report a loop or dangling link
	}
	if err != nil {
		info = nil
	}
	if err == nil && !info.Mode().IsRegular() {
		pf := parsedFile{name: f.name}
		pf.diags.Errorf(diag.Pos{File: f.name}, "io", "not a regular file")
		return nil, info, pf, false
	}
	if err == nil && info.Size() > tree.MaxFileSize {
		return nil, info, parsedFile{name: f.name, diags: diag.List{tree.FileTooLarge(f.name, int(info.Size()))}}, false
	}
	data, err = readAtMost(f.path, tree.MaxFileSize+1)
	if err != nil {
		pf := parsedFile{name: f.name}
		pf.diags.Errorf(diag.Pos{File: f.name}, "io", "cannot read: %v", unwrapPathError(err))
		return nil, info, pf, false
	}
	if len(data) > tree.MaxFileSize { // it grew past the limit since the stat
		size := len(data)
		if now, err := os.Stat(f.path); err == nil && now.Size() > int64(size) {
			size = int(now.Size())
		}
		return nil, info, parsedFile{name: f.name, diags: diag.List{tree.FileTooLarge(f.name, size)}}, false
	}
	return data, info, parsedFile{}, true
}

// readAtMost reads up to limit bytes of a file: one that grows while it
// is read (a large file being written) is never read whole.
func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

func parseFile(name string, data []byte) parsedFile {
	pf := parsedFile{name: name}
	docs, diags := tree.ParseYAML(name, data)
	pf.diags = diags
	if diags.HasErrors() && !slices.ContainsFunc(diags, func(d diag.Diagnostic) bool { return d.Rule == "not-text" || d.Rule == "file-too-large" }) {
		pf.elements = salvage(data)
	}
	for _, doc := range docs {
		if el := decodeDocument(doc, &pf.diags); el != nil {
			pf.elements = append(pf.elements, el)
		}
	}
	return pf
}

// decodeDocument checks one document against its kind's schema and decodes
// it. It returns nil when the document is not of a known kind or is broken.
func decodeDocument(doc tree.Document, diags *diag.List) any {
	root := doc.Root
	if root.Kind != tree.Map {
		diags.Errorf(root.Pos, "wrong-type", "a spec document must be a mapping with a `kind:`, not %s", root.Kind)
		return nil
	}
	kv := root.Get("kind")
	if kv == nil {
		diags.Errorf(root.Pos, "missing-kind", "document has no `kind:`; add one of %s", strings.Join(Kinds, ", "))
		return nil
	}
	if kv.Kind != tree.String {
		diags.Errorf(kv.Pos, "wrong-type", "`kind:` must be text, one of %s, not %s", strings.Join(Kinds, ", "), kv.Kind)
		return nil
	}
	if !slices.Contains(Kinds, kv.Str) {
		diags.Errorf(kv.Pos, "unknown-kind", "unknown kind %s; use one of %s%s", quote(kv.Str), strings.Join(Kinds, ", "), suggest.DidYouMean(kv.Str, Kinds))
		if k := suggest.Closest(kv.Str, Kinds); k != "" {
			return brokenElement(k, root) // a typo: what refers to it is not wrong
		}
		return nil
	}
	before := len(*diags)
	checkShape(kv.Str, root, diags)
	if len(*diags) > before {
		return brokenElement(kv.Str, root)
	}
	src := Source{File: doc.Pos.File, Pos: doc.Pos, Doc: root}
	var el any
	switch kv.Str {
	case KindConnector:
		el = &Connector{Source: src}
	case KindUniversalAction:
		el = &UniversalAction{Source: src}
	case KindUniversalEvent:
		el = &UniversalEvent{Source: src}
	case KindAction:
		el = &Action{Source: src}
	case KindEvent:
		el = &Event{Source: src}
	case KindConnectionOverride:
		el = &ConnectionOverride{Source: src}
	case KindWorkspace:
		el = &WorkspaceConfig{Source: src}
	case KindConnectorTest:
		el = &ConnectorTest{Source: src}
	}
	decode(root, el, diags)
	if len(*diags) > before {
		return brokenElement(kv.Str, root)
	}
	return el
}

// broken stands for a document with errors: its key is still known, so
// references to it do not cascade into errors of their own.
type broken struct{ kind, key, connector, implements string }

func brokenElement(kind string, root *tree.Value) any {
	text := func(name string) string {
		if v := root.Get(name); v != nil && v.Kind == tree.String {
			return v.Str
		}
		return ""
	}
	return broken{kind: kind, key: text("key"), connector: text("connector"), implements: text("implements")}
}

var salvageLine = regexp.MustCompile(`^(kind|key|connector|implements):[ \t]*["']?([A-Za-z0-9_.-]+)["']?[ \t]*(#.*)?\r?$`)

// salvage reads the kind, key, connector and implements of each document of
// a file the YAML parser gave up on, from top-level lines, so that what
// refers to them is not reported as well.
func salvage(data []byte) []any {
	var out []any
	var b broken
	flush := func() {
		if b.kind != "" && b.key != "" {
			out = append(out, b)
		}
		b = broken{}
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.HasPrefix(line, "---") {
			flush()
			continue
		}
		m := salvageLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch m[1] {
		case "kind":
			b.kind = m[2]
		case "key":
			b.key = m[2]
		case "connector":
			b.connector = m[2]
		case "implements":
			b.implements = m[2]
		}
	}
	flush()
	return out
}

// Decode checks a document (a file's, or one merged from layers) against
// its kind's schema and decodes it into its element type.
func Decode(doc *tree.Value) (any, diag.List) {
	var diags diag.List
	el := decodeDocument(tree.Document{Root: doc, Pos: doc.Pos}, &diags)
	if _, ok := el.(broken); ok {
		el = nil
	}
	return el, diags
}
