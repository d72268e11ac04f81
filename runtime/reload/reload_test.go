package reload

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
)

// TestSaveBreakFix: a save is served at once; a broken one keeps the last
// good generation serving and says what is wrong and where; a fix serves.
func TestSaveBreakFix(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 2, 2)
	d := startDev(t, dir, Options{})
	if got := d.actionName(t, 1, 1); got != "v0" {
		t.Fatalf("served name %q, want v0", got)
	}

	testkit.WriteFile(t, actionPath(dir, 1, 1), actionText(1, 1, "v1"))
	d.waitFor(t, "generation 2", func(st Status) bool { return st.Generation == 2 && st.OK })
	if got := d.actionName(t, 1, 1); got != "v1" {
		t.Errorf("after the save, served name %q, want v1", got)
	}

	broken := strings.Replace(actionText(1, 1, "v2"), "${ input.id }", "${ input.idd }", 1)
	testkit.WriteFile(t, actionPath(dir, 1, 1), broken)
	st := d.waitFor(t, "the error", func(st Status) bool { return !st.OK })
	if st.Generation != 2 || !hasDiag(st, "c1/actions/a1.yaml", "expression") {
		t.Errorf("status %+v, want generation 2 and an expression error in a1.yaml", st)
	}
	if got := d.actionName(t, 1, 1); got != "v1" {
		t.Errorf("with the broken file, served name %q, want the last good v1", got)
	}
	out := d.Out.String()
	if !strings.Contains(out, "c1/actions/a1.yaml:8:") || !strings.Contains(out, "error:") || !strings.Contains(out, "[expression]") ||
		!strings.Contains(out, "1 error; still serving generation 2") {
		t.Errorf("the terminal does not show the error and the status line:\n%s", out)
	}

	testkit.WriteFile(t, actionPath(dir, 1, 1), actionText(1, 1, "v3"))
	d.waitFor(t, "generation 3", func(st Status) bool { return st.Generation == 3 && st.OK && len(st.Diagnostics) == 0 })
	if got := d.actionName(t, 1, 1); got != "v3" {
		t.Errorf("after the fix, served name %q, want v3", got)
	}
	if !strings.Contains(d.Out.String(), "reloaded 1 file in ") || !strings.Contains(d.Out.String(), "serving generation 3") {
		t.Errorf("no reload line:\n%s", d.Out.String())
	}
}

// TestHalfWrittenFileIsHeld: a truncated save is not reported while the
// editor may still be writing; completed, it is served; left so past the
// grace period, it is reported.
func TestHalfWrittenFileIsHeld(t *testing.T) {
	for _, half := range []string{"", "kind: Action\nconnector: c0\nkey: a0\nname: \"v"} {
		dir := t.TempDir()
		genWorkspace(t, dir, 1, 1)
		held := make(chan struct{}, 10)
		// The grace is long: the test completes the file within it.
		d := startDev(t, dir, Options{Grace: time.Hour, hook: func(ev string) {
			if ev == "held" {
				held <- struct{}{}
			}
		}})
		testkit.WriteFile(t, actionPath(dir, 0, 0), half)
		waitChan(t, held, "the half-written file to be held")
		if st := d.Status(); st.Generation != 1 || !st.OK {
			t.Errorf("%q: status %+v while held, want generation 1 clean", half, st)
		}
		testkit.WriteFile(t, actionPath(dir, 0, 0), actionText(0, 0, "v1"))
		d.waitFor(t, "the completed file", func(st Status) bool { return st.Generation == 2 })
	}

	// Left half-written, it is reported after the grace.
	dir := t.TempDir()
	genWorkspace(t, dir, 1, 1)
	d := startDev(t, dir, Options{Grace: 50 * time.Millisecond})
	testkit.WriteFile(t, actionPath(dir, 0, 0), "kind: Action\nconnector: c0\nkey: a0\nname: \"v")
	st := d.waitFor(t, "the report", func(st Status) bool { return !st.OK })
	if !hasDiag(st, "a0.yaml", "yaml-syntax") || st.Generation != 1 {
		t.Errorf("status %+v, want a yaml-syntax error and generation 1", st)
	}
}

func waitChan(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-beforeTimeout(t):
		t.Fatalf("waited until the test's timeout for %s", what)
	}
}

// TestEditorSaves: the ways editors and Kubernetes replace a file are all
// seen as one save.
func TestEditorSaves(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 1, 1)
	d := startDev(t, dir, Options{})
	path := actionPath(dir, 0, 0)
	version := 0
	expect := func(how string) {
		t.Helper()
		want := "v" + itoa(version)
		d.waitFor(t, how, func(st Status) bool { return st.OK && d.served().Action("c0", "a0").Name == want })
	}

	version++ // vim: write-test file, backup by rename, write, drop the backup
	testkit.WriteFile(t, filepath.Join(filepath.Dir(path), "4913"), "")
	must(t, os.Remove(filepath.Join(filepath.Dir(path), "4913")))
	must(t, os.Rename(path, path+"~"))
	testkit.WriteFile(t, filepath.Join(filepath.Dir(path), ".a0.yaml.swp"), "swap")
	testkit.WriteFile(t, path, actionText(0, 0, "v1"))
	must(t, os.Remove(path+"~"))
	expect("vim's save")

	version++ // VS Code: truncate, then write
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	_, err = f.WriteString(actionText(0, 0, "v2"))
	must(t, err)
	must(t, f.Close())
	expect("a truncate-and-write")

	version++ // most others: a temp file renamed over
	testkit.WriteFile(t, path+".tmp", actionText(0, 0, "v3"))
	must(t, os.Rename(path+".tmp", path))
	expect("a rename over")

	// A Kubernetes ConfigMap volume: files link through ..data, a link to
	// a timestamped directory, swapped by renaming a new link over it.
	cm := filepath.Join(dir, "cm")
	testkit.WriteFile(t, filepath.Join(cm, "..2024_01", "extra.yaml"), "kind: UniversalAction\nkey: extra\nname: one\ninput: {type: object}\noutput: {type: object}\n")
	must(t, os.Symlink("..2024_01", filepath.Join(cm, "..data")))
	must(t, os.Symlink("..data/extra.yaml", filepath.Join(cm, "extra.yaml")))
	d.waitFor(t, "the ConfigMap's file", func(st Status) bool {
		return st.OK && d.served().UniversalActions["extra"] != nil && d.served().UniversalActions["extra"].Name == "one"
	})
	testkit.WriteFile(t, filepath.Join(cm, "..2024_02", "extra.yaml"), "kind: UniversalAction\nkey: extra\nname: two\ninput: {type: object}\noutput: {type: object}\n")
	must(t, os.Symlink("..2024_02", filepath.Join(cm, "..data_tmp")))
	must(t, os.Rename(filepath.Join(cm, "..data_tmp"), filepath.Join(cm, "..data")))
	must(t, os.RemoveAll(filepath.Join(cm, "..2024_01")))
	d.waitFor(t, "the ConfigMap's update", func(st Status) bool {
		return st.OK && d.served().UniversalActions["extra"] != nil && d.served().UniversalActions["extra"].Name == "two"
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestSubscribers: a subscriber that does not read never blocks reloads
// and gets the newest status when it does; one that leaves is dropped.
func TestSubscribers(t *testing.T) {
	dir := t.TempDir()
	genWorkspace(t, dir, 1, 1)
	d := startDev(t, dir, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	slow := d.Subscribe(ctx)
	for v := 1; v <= 3; v++ {
		testkit.WriteFile(t, actionPath(dir, 0, 0), actionText(0, 0, "v"+itoa(v)))
		d.waitFor(t, "the save", func(st Status) bool { return st.Generation == int64(1+v) })
	}
	// The test's own subscription may hear of generation 4 before publish
	// has reached the slow one; Status takes the lock publish holds while
	// it offers a status to every subscriber, so once it says 4 the slow
	// subscriber's slot holds 4 too.
	if st := d.Status(); st.Generation != 4 {
		t.Fatalf("the status says generation %d, want 4", st.Generation)
	}
	if st := <-slow; st.Generation != 4 {
		t.Errorf("the slow subscriber got generation %d first, want the newest, 4", st.Generation)
	}
	cancel()
	for range slow {
	}
	d.mu.Lock()
	n := len(d.subs)
	d.mu.Unlock()
	if n != 1 { // the test's own
		t.Errorf("%d subscribers left, want 1", n)
	}
}
