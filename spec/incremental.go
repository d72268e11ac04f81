package spec

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/membrane-dev/membrane/spec/diag"
)

// Loader loads a workspace again and again, as a development server does
// on every save. It keeps each file's parse (YAML, schema check, decoding)
// by path and content hash: a reload re-reads only the files whose size,
// modification time or mode changed (or that Invalidate names), re-parses
// only those whose content changed, then rebuilds the workspace and runs
// the cross-file checks again. (layers.Loader adds the steps after.)
//
// The elements of an unchanged file are shared by the workspaces of
// successive loads; like every loaded element they are read-only.
// A Loader is safe for concurrent use; its loads run one at a time.
type Loader struct {
	mu      sync.Mutex
	files   map[string]*cachedFile // by cleaned path
	dirty   map[string]bool        // invalidated paths
	changed []string
	// The paths of the files the last load found changed, for Unsettled.
	changedPaths []string
	parses       atomic.Int64
	// What the last walk found, for LoadInvalidated.
	roots     []string
	list      []fileRef
	listDiags diag.List
}

type cachedFile struct {
	stamp stamp
	hash  [sha256.Size]byte
	read  bool // the content was read and parsed (not an I/O diagnostic)
	pf    parsedFile
}

// stamp is what a stat says of a file: enough to notice a save without
// reading it. A failed stat is a stamp too, so that a dangling link does
// not count as changed at every look.
type stamp struct {
	size  int64
	mtime int64
	mode  fs.FileMode
	err   string
}

func stampOf(info fs.FileInfo, err error) stamp {
	if err != nil {
		return stamp{err: unwrapPathError(err).Error()}
	}
	return stamp{size: info.Size(), mtime: info.ModTime().UnixNano(), mode: info.Mode()}
}

// statFile stats what a path names, following a link.
func statFile(path string) stamp { return stampOf(os.Stat(path)) }

// NewLoader returns a Loader with nothing cached.
func NewLoader() *Loader { return &Loader{files: map[string]*cachedFile{}} }

// Load reads the workspace as Load does, re-using what the previous load
// of this Loader read from files that have not changed since.
func (l *Loader) Load(paths ...string) (*Workspace, diag.List) {
	l.mu.Lock()
	defer l.mu.Unlock()
	files, diags := findFiles(paths)
	return l.load(paths, files, diags, true)
}

// LoadInvalidated loads as Load does, but trusts that nothing changed
// since the last load besides what Invalidate named: it walks the tree
// again only when a named path is not a file it knows (a new file, a
// directory), and stats only the named files. It is for a caller whose
// file watcher names every change; an occasional Stale check or Load
// makes up for an event lost.
func (l *Loader) LoadInvalidated(paths ...string) (*Workspace, diag.List) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Equal(paths, l.roots) || l.structural() {
		files, diags := findFiles(paths)
		return l.load(paths, files, diags, true)
	}
	files := slices.DeleteFunc(slices.Clone(l.list), func(f fileRef) bool {
		if !l.dirty[filepath.Clean(f.path)] {
			return false
		}
		_, err := os.Lstat(f.path)
		return errors.Is(err, fs.ErrNotExist) // removed
	})
	return l.load(paths, files, slices.Clone(l.listDiags), false)
}

// structural reports whether an invalidated path may add files or
// directories: one that is not a known file, or is now a directory.
func (l *Loader) structural() bool {
	for p := range l.dirty {
		if l.files[p] == nil {
			return true
		}
		if info, err := os.Lstat(p); err == nil && info.IsDir() {
			return true
		}
	}
	return false
}

// load loads files, re-reading those invalidated and, when stat is set,
// those whose stamp changed.
func (l *Loader) load(paths []string, files []fileRef, diags diag.List, stat bool) (*Workspace, diag.List) {
	l.roots, l.list, l.listDiags = slices.Clone(paths), files, slices.Clone(diags)
	parsed := make([]parsedFile, len(files))
	entries := make([]*cachedFile, len(files))
	changed := make([]bool, len(files))
	parallel(len(files), func(i int) { parsed[i], entries[i], changed[i] = l.loadFile(files[i], stat) })

	next := make(map[string]*cachedFile, len(files))
	l.changed, l.changedPaths = l.changed[:0], l.changedPaths[:0]
	for i, f := range files {
		next[filepath.Clean(f.path)] = entries[i]
		if changed[i] {
			l.changed = append(l.changed, f.name)
			l.changedPaths = append(l.changedPaths, filepath.Clean(f.path))
		}
	}
	for p, e := range l.files {
		if next[p] == nil {
			l.changed = append(l.changed, e.pf.name) // removed
		}
	}
	slices.Sort(l.changed)
	l.files, l.dirty = next, nil
	return build(parsed, diags)
}

// loadFile returns a file's parse, from the cache when it is not
// invalidated and its stamp (unless stat is false) or its content is
// unchanged, and whether it changed.
func (l *Loader) loadFile(f fileRef, stat bool) (parsedFile, *cachedFile, bool) {
	key := filepath.Clean(f.path)
	prev := l.files[key]
	if prev != nil && prev.pf.name != f.name {
		prev = nil // displayed differently: its diagnostics would name it wrong
	}
	if prev != nil && !l.dirty[key] && (!stat || statFile(f.path) == prev.stamp) {
		return prev.pf, prev, false
	}
	data, info, pf, ok := readSpecFile(f)
	var st stamp
	if info != nil {
		st = stampOf(info, nil)
	} else {
		st = statFile(f.path)
	}
	if !ok {
		e := &cachedFile{stamp: st, pf: pf}
		return pf, e, prev == nil || prev.read || !slices.Equal(prev.pf.diags, pf.diags)
	}
	h := sha256.Sum256(data)
	if prev != nil && prev.read && prev.hash == h {
		return prev.pf, &cachedFile{stamp: st, hash: h, read: true, pf: prev.pf}, false
	}
	l.parses.Add(1)
	pf = parseFile(f.name, data)
	return pf, &cachedFile{stamp: st, hash: h, read: true, pf: pf}, true
}

// Invalidate makes the next Load re-read the named files, and every file
// under a named directory, whatever their stamps say: for a change a stat
// may miss (a rewrite of the same size within the clock's resolution).
// Paths are compared cleaned, as Load found them.
func (l *Loader) Invalidate(paths ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dirty == nil {
		l.dirty = map[string]bool{}
	}
	for _, p := range paths {
		p = filepath.Clean(p)
		l.dirty[p] = true
		prefix := p + string(filepath.Separator)
		for k := range l.files {
			if strings.HasPrefix(k, prefix) {
				l.dirty[k] = true
			}
		}
	}
}

// Stale reports whether Load would now find other files than the last
// load did, or a file whose stamp changed. It reads no content: it is the
// cheap look a watcher takes now and then in case it missed an event.
func (l *Loader) Stale(paths ...string) bool {
	files, _ := findFiles(paths)
	l.mu.Lock()
	known := make(map[string]stamp, len(l.files))
	for p, e := range l.files {
		known[p] = e.stamp
	}
	l.mu.Unlock()
	if len(files) != len(known) {
		return true
	}
	for _, f := range files {
		st, ok := known[filepath.Clean(f.path)]
		if !ok || statFile(f.path) != st {
			return true
		}
	}
	return false
}

// Changed lists the files (as displayed in diagnostics) that the last
// Load found added, removed or changed in content, sorted.
func (l *Loader) Changed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.changed)
}

// Unsettled lists the files (as displayed in diagnostics) that the last
// load found changed and that have changed again since it stat-ed them:
// written while it read them, so that what it read may be the first part
// of a save still under way. It reads no content.
func (l *Loader) Unsettled() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range l.changedPaths {
		if e := l.files[p]; e != nil && statFile(p) != e.stamp {
			out = append(out, e.pf.name)
		}
	}
	return out
}

// Parses counts the files this Loader has parsed: a load that finds a
// file unchanged does not parse it again.
func (l *Loader) Parses() int64 { return l.parses.Load() }
