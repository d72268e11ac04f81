package reload

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
)

// responsive fails unless the server answers, whatever the reloader is
// busy with; TestAnswersWhileLoading proves it does not wait for a load.
func (d *dev) responsive(t *testing.T) {
	t.Helper()
	for _, path := range []string{"/healthz", "/dev/diagnostics"} {
		resp, err := http.Get(d.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	if code := d.get(t, "/v1/connectors/c0", nil); code != 200 {
		t.Errorf("GET /v1/connectors/c0: %d", code)
	}
}

// TestAnswersWhileLoading: the server answers, the API and the
// development endpoints alike, while a reload is in progress. The load is
// held until the answers came, so a request that waited for the reloader
// would never be answered.
func TestAnswersWhileLoading(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 2, 2)
	var hold atomic.Bool
	busy, resume := make(chan struct{}), make(chan struct{})
	d := startDev(t, dir, Options{hook: func(ev string) {
		if ev == "loading" && hold.CompareAndSwap(true, false) {
			close(busy)
			<-resume
		}
	}})
	hold.Store(true)
	testkit.WriteFile(t, actionPath(dir, 1, 1), actionText(1, 1, "v2"))
	<-busy
	d.responsive(t)
	if st := d.Status(); st.Generation != 1 {
		t.Errorf("generation %d while the load was held, want 1", st.Generation)
	}
	close(resume)
	d.waitFor(t, "the held load served", func(st Status) bool { return st.Generation == 2 })
	if got := d.actionName(t, 1, 1); got != "v2" {
		t.Errorf("served name %q, want v2", got)
	}
}

// TestCheckoutStorm rewrites 500 files five times in a tight loop, as a
// `git checkout` does: the server answers throughout, and ends serving
// the last version of every file.
func TestCheckoutStorm(t *testing.T) {
	const connectors, actions = 50, 10
	dir := t.TempDir()
	genWorkspace(t, dir, connectors, actions)
	d := startDev(t, dir, Options{})
	const rounds = 5
	for r := 1; r <= rounds; r++ {
		for i := range connectors {
			for j := range actions {
				testkit.WriteFile(t, actionPath(dir, i, j), actionText(i, j, fmt.Sprintf("r%d", r)))
			}
		}
		if r == 2 {
			d.responsive(t)
		}
	}
	final := fmt.Sprintf("r%d", rounds)
	d.waitFor(t, "every file's last version", func(st Status) bool {
		if !st.OK {
			return false
		}
		ws := d.served()
		for i := range connectors {
			for j := range actions {
				if a := ws.Action(fmt.Sprintf("c%d", i), fmt.Sprintf("a%d", j)); a == nil || a.Name != final {
					return false
				}
			}
		}
		return true
	})
	d.responsive(t)
	if got := d.actionName(t, connectors-1, actions-1); got != final {
		t.Errorf("served name %q, want %q", got, final)
	}
}

// TestDirectoryDeletedWhileWatched: a connector's directory removed, then
// made again and filled at once.
func TestDirectoryDeletedWhileWatched(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 3, 2)
	d := startDev(t, dir, Options{})
	must(t, os.RemoveAll(filepath.Join(dir, "connectors", "c1")))
	d.waitFor(t, "c1 gone", func(st Status) bool { return st.OK && d.served().Connectors["c1"] == nil })
	d.responsive(t)

	// Made again with its files before a watch can be on it.
	testkit.WriteFile(t, filepath.Join(dir, "connectors", "c1", "connector.yaml"), connectorText(1))
	testkit.WriteFile(t, actionPath(dir, 1, 0), actionText(1, 0, "back"))
	testkit.WriteFile(t, actionPath(dir, 1, 1), actionText(1, 1, "back"))
	d.waitFor(t, "c1 back", func(st Status) bool {
		a := d.served().Action("c1", "a1")
		return st.OK && a != nil && a.Name == "back" && d.served().Action("c1", "a0") != nil
	})
	// And a file saved in it afterwards is seen, so it is watched.
	testkit.WriteFile(t, actionPath(dir, 1, 1), actionText(1, 1, "again"))
	d.waitFor(t, "a save in the new directory", func(st Status) bool {
		a := d.served().Action("c1", "a1")
		return a != nil && a.Name == "again"
	})
}

// TestSymlinkLoop: a file that links to itself is reported, a directory
// link back up the tree is not followed; the server stays up.
func TestSymlinkLoop(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 1, 1)
	d := startDev(t, dir, Options{})
	must(t, os.Symlink("..", filepath.Join(dir, "connectors", "c0", "up")))
	must(t, os.Symlink("loop.yaml", filepath.Join(dir, "loop.yaml")))
	st := d.waitFor(t, "the loop reported", func(st Status) bool { return !st.OK })
	if !hasDiag(st, "loop.yaml", "io") || st.Generation != 1 || len(st.Diagnostics) != 1 {
		t.Errorf("diagnostics %v, want one io error on loop.yaml", st.Diagnostics)
	}
	d.responsive(t)
	must(t, os.Remove(filepath.Join(dir, "loop.yaml")))
	d.waitFor(t, "the loop removed", func(st Status) bool { return st.OK && st.Generation == 2 })
}

// TestUnreadableFiles: a FIFO (which would block a read forever) and a
// directory without permissions are reported, and the server goes on.
func TestUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 2, 1)
	d := startDev(t, dir, Options{})
	fifo := filepath.Join(dir, "pipe.yaml")
	must(t, syscall.Mkfifo(fifo, 0o644))
	st := d.waitFor(t, "the FIFO reported", func(st Status) bool { return !st.OK })
	if !hasDiag(st, "pipe.yaml", "io") {
		t.Errorf("diagnostics %v, want an io error on pipe.yaml", st.Diagnostics)
	}
	d.responsive(t)
	must(t, os.Remove(fifo))
	d.waitFor(t, "the FIFO removed", func(st Status) bool { return st.OK })

	if os.Geteuid() == 0 {
		t.Log("running as root, which reads any directory: the permission-denied case is not testable here")
		return
	}
	locked := filepath.Join(dir, "connectors", "c1")
	must(t, os.Chmod(locked, 0))
	t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
	st = d.waitFor(t, "the locked directory reported", func(st Status) bool { return !st.OK })
	if !hasDiag(st, "connectors/c1", "io") {
		t.Errorf("diagnostics %v, want an io error on connectors/c1", st.Diagnostics)
	}
	d.responsive(t)
	must(t, os.Chmod(locked, 0o755))
	d.waitFor(t, "the directory readable again", func(st Status) bool { return st.OK && d.served().Connectors["c1"] != nil })
}

// TestHugeFile: a valid YAML file of 100 MB is reported as too large,
// neither read nor parsed, and the server goes on. The file is written
// elsewhere and renamed into place, as a program writing a large file
// should (see the package doc): written in place it would be served in
// part if the writer paused longer than the debounce while the part
// was still small enough to load.
func TestHugeFile(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 1, 1)
	d := startDev(t, dir, Options{})
	parses := d.loader.Parses()
	tmp := filepath.Join(t.TempDir(), "huge.yaml")
	writeHuge(t, tmp)
	path := filepath.Join(dir, "huge.yaml")
	must(t, os.Rename(tmp, path))
	st := d.waitFor(t, "the huge file reported", func(st Status) bool { return !st.OK && hasDiag(st, "huge.yaml", "file-too-large") })
	if st.Generation != 1 {
		t.Errorf("generation %d, want 1 still served", st.Generation)
	}
	if n := d.loader.Parses() - parses; n != 0 {
		t.Errorf("%d files parsed, want none", n)
	}
	d.responsive(t)
	must(t, os.Remove(path))
	d.waitFor(t, "the huge file removed", func(st Status) bool { return st.OK })
}

// writeHuge writes a valid UniversalAction of 100 MiB, 1 MiB at a time.
func writeHuge(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprint(w, "kind: UniversalAction\nkey: huge\ninput: {type: object}\noutput: {type: object}\ndescription: |\n")
	line := "  " + strings.Repeat("all work and no play ", 4) + "\n"
	for n := 0; n < 100<<20; n += len(line) {
		_, _ = w.WriteString(line)
	}
	must(t, w.Flush())
	must(t, f.Close())
}

// TestFileWrittenDuringLoad: a file written again while a load reads it
// (a program writing it in parts, an editor setting its mode after the
// write) is not served as that load read it; the load after the last
// change serves it.
func TestFileWrittenDuringLoad(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		during     func(path string) error
	}{
		{"the rest of the save", "v1-and-the-rest", func(path string) error {
			return os.WriteFile(path, []byte(actionText(0, 0, "v1-and-the-rest")), 0o644)
		}},
		// The content the load read is the final one: what the held load
		// found changed must still be served.
		{"a chmod", "v1", func(path string) error { return os.Chmod(path, 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			genWorkspace(t, dir, 1, 1)
			path := actionPath(dir, 0, 0)
			var armed atomic.Bool
			var once sync.Once
			d := startDev(t, dir, Options{Rescan: time.Hour, hook: func(ev string) {
				if ev == "loaded" && armed.Load() {
					once.Do(func() {
						if err := tc.during(path); err != nil {
							t.Error(err)
						}
					})
				}
			}})
			armed.Store(true)
			tmp := filepath.Join(t.TempDir(), "a0.yaml")
			testkit.WriteFile(t, tmp, actionText(0, 0, "v1"))
			must(t, os.Rename(tmp, path))
			st := d.waitFor(t, "the next generation", func(st Status) bool { return st.Generation > 1 })
			if got := d.served().Action("c0", "a0").Name; st.Generation != 2 || got != tc.want {
				t.Errorf("generation %d serves name %q, want generation 2 with %s", st.Generation, got, tc.want)
			}
		})
	}
}
