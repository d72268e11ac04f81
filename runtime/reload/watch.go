package reload

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// watcher keeps an fsnotify watch on every directory of a tree that may
// hold spec files, adding directories as they appear and dropping those
// that go.
type watcher struct {
	fs   *fsnotify.Watcher
	root string
	dirs map[string]bool
	log  *slog.Logger
}

func newWatcher(root string, log *slog.Logger) (*watcher, error) {
	// A buffer between the kernel and us, so a burst of saves does not
	// overflow the kernel's queue while a reload runs.
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, err
	}
	w := &watcher{fs: fw, root: root, dirs: map[string]bool{}, log: log}
	w.addTree(root)
	return w, nil
}

func (w *watcher) close() { _ = w.fs.Close() }

// skipDir is a directory that never holds specs: what spec.Load skips
// (hidden ones such as .git and .membrane, node_modules, vendor, testdata).
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor" || name == "testdata"
}

// ignoredFile is an editor's scratch file: swap files, backups, vim's
// write test (4913), Emacs locks, temp files renamed over the real one.
func ignoredFile(name string) bool {
	return strings.HasPrefix(name, ".#") || name == "4913" || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".swx") || strings.HasSuffix(name, ".swo")
}

func isSpecFile(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// addTree watches dir and every directory below it that may hold specs.
func (w *watcher) addTree(dir string) {
	for _, d := range treeDirs(w.root, dir) {
		w.add(d)
	}
}

func (w *watcher) add(dir string) {
	if w.dirs[dir] {
		return
	}
	if err := w.fs.Add(dir); err != nil {
		w.log.Debug("cannot watch a directory", "dir", dir, "err", err)
		return // the rescan tries again
	}
	w.dirs[dir] = true
}

// treeDirs lists dir and the directories below it that may hold specs.
func treeDirs(root, dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // an unreadable directory is reported by the loader
		}
		if p != root && skipDir(d.Name()) {
			return fs.SkipDir
		}
		out = append(out, p)
		return nil
	})
	return out
}

// removeTree forgets dir and the directories below it; the kernel has
// dropped the watches of those deleted, and those moved are watched again
// under their new name.
func (w *watcher) removeTree(dir string) {
	prefix := dir + string(filepath.Separator)
	for d := range w.dirs {
		if d == dir || strings.HasPrefix(d, prefix) {
			delete(w.dirs, d)
			if err := w.fs.Remove(d); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
				w.log.Debug("cannot unwatch a directory", "dir", d, "err", err)
			}
		}
	}
}

// sync makes the watches match the tree, as listed by treeDirs: for
// events missed (a directory made and filled before its watch was added,
// a queue overflow).
func (w *watcher) sync(dirs []string) {
	now := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		now[d] = true
	}
	for d := range w.dirs {
		if !now[d] {
			w.removeTree(d)
		}
	}
	for _, d := range dirs {
		w.add(d)
	}
}

// handle turns an event into the paths whose cached parses are stale, or
// nil when the event cannot change the workspace.
func (w *watcher) handle(ev fsnotify.Event) []string {
	name := filepath.Base(ev.Name)
	switch {
	case strings.HasPrefix(name, "..") && name != "..":
		// A Kubernetes ConfigMap volume swaps its ..data link: every file
		// of the directory links through it.
		return []string{filepath.Dir(ev.Name)}
	case w.dirs[ev.Name] && ev.Has(fsnotify.Remove|fsnotify.Rename):
		w.removeTree(ev.Name)
		return []string{ev.Name}
	case ev.Has(fsnotify.Create):
		if info, err := os.Lstat(ev.Name); err == nil && info.IsDir() {
			if skipDir(name) {
				return nil
			}
			w.addTree(ev.Name)
			return []string{ev.Name}
		}
	}
	if ignoredFile(name) || !isSpecFile(name) {
		return nil
	}
	return []string{ev.Name}
}
