package reload

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// Options configure a Reloader.
type Options struct {
	// Dir is the workspace directory.
	Dir string
	// Swap is handed each snapshot that loads clean, in order.
	Swap func(*spec.Workspace)
	// Logger logs what the terminal does not show (watch trouble); nil
	// discards.
	Logger *slog.Logger
	// Out is the terminal: diagnostics and one status line per change;
	// nil prints nothing.
	Out io.Writer
	// Debounce is how long a changed path must be quiet before a reload;
	// default 25 ms (an editor's save is done well within it).
	Debounce time.Duration
	// MaxWait bounds how long a stream of saves delays a reload; default
	// 40 × Debounce.
	MaxWait time.Duration
	// Grace is how long a half-written file is given to be completed
	// before it is reported; default 250 ms.
	Grace time.Duration
	// Rescan is how often the tree is stat-ed for a change whose event
	// was missed; default 2 s.
	Rescan time.Duration

	// hook, in tests, hears of what cannot be seen from outside: "loading"
	// as a load starts (a hook that blocks holds the reloader busy),
	// "loaded" when a load has read the files (before it is checked for a
	// save under way), "held" when a half-written file is held back.
	hook func(event string)
}

// Reloader watches a workspace and swaps in each good version of it.
type Reloader struct {
	opts   Options
	dir    string
	loader *layers.Loader
	log    *slog.Logger

	mu      sync.Mutex
	status  Status
	subs    map[chan Status]struct{}
	stopped bool
	done    chan struct{}

	// Owned by Run's goroutine.
	printed   diag.List // the diagnostics last printed
	published bool
	// heldChanged are the files that loads held back found changed: the
	// loader counts them as read, so the next load may find them
	// unchanged, yet what they hold was never published.
	heldChanged []string
}

// New returns a Reloader for opts; Run starts it.
func New(opts Options) *Reloader {
	if opts.Debounce <= 0 {
		opts.Debounce = 25 * time.Millisecond
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 40 * opts.Debounce
	}
	if opts.Grace <= 0 {
		opts.Grace = 250 * time.Millisecond
	}
	if opts.Rescan <= 0 {
		opts.Rescan = 2 * time.Second
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Swap == nil {
		opts.Swap = func(*spec.Workspace) {}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		dir = filepath.Clean(opts.Dir)
	}
	return &Reloader{opts: opts, dir: dir, loader: layers.NewLoader(), log: log,
		subs: map[chan Status]struct{}{}, done: make(chan struct{})}
}

// Run loads the workspace, then reloads it on every change until ctx ends.
// It fails only when it cannot watch at all.
func (r *Reloader) Run(ctx context.Context) error {
	defer r.stop()
	w, err := newWatcher(r.dir, r.log)
	if err != nil {
		return fmt.Errorf("watching %s: %w", r.dir, err)
	}
	defer w.close()
	r.reload(true, true)

	type scan struct {
		dirs  []string
		stale bool
	}
	scans := make(chan scan, 1)
	scanning := false
	var (
		pending = map[string]time.Time{} // path → its last event
		first   time.Time                // of the pending events
		held    bool                     // a half-written file waits for Grace
	)
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	grace := time.NewTimer(time.Hour)
	grace.Stop()
	rescan := time.NewTicker(r.opts.Rescan)
	defer rescan.Stop()
	// try reloads, holding back a save under way for up to Grace.
	try := func(full bool) {
		held = !r.reload(false, full)
		if held {
			grace.Reset(r.opts.Grace)
			r.event("held")
		}
	}
	touch := func(paths ...string) {
		now := time.Now()
		if len(pending) == 0 {
			first = now
		}
		for _, p := range paths {
			pending[p] = now
		}
		debounce.Reset(r.opts.Debounce)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fs.Events:
			if !ok {
				return nil
			}
			if paths := w.handle(ev); paths != nil {
				touch(paths...)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return nil
			}
			// An overflow lost events: take everything as changed.
			r.log.Warn("watching the workspace", "err", err)
			w.sync(treeDirs(r.dir, r.dir))
			touch(r.dir)
		case <-debounce.C:
			now := time.Now()
			last := slices.MaxFunc(mapsValues(pending), func(a, b time.Time) int { return a.Compare(b) })
			if wait := last.Add(r.opts.Debounce).Sub(now); wait > 0 && now.Sub(first) < r.opts.MaxWait {
				debounce.Reset(min(wait, first.Add(r.opts.MaxWait).Sub(now)))
				continue
			}
			r.loader.Invalidate(mapsKeys(pending)...)
			clear(pending)
			try(false)
		case <-grace.C:
			if held && len(pending) == 0 {
				held = false
				r.reload(true, true)
			}
		case <-rescan.C:
			// The look runs aside, so that a save is not kept waiting.
			if !scanning {
				scanning = true
				go func() { scans <- scan{treeDirs(r.dir, r.dir), r.loader.Stale(r.dir)} }()
			}
		case sc := <-scans:
			scanning = false
			w.sync(sc.dirs)
			if sc.stale && len(pending) == 0 && !held {
				try(true)
			}
		}
	}
}

func mapsKeys(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mapsValues(m map[string]time.Time) []time.Time {
	out := make([]time.Time, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (r *Reloader) event(name string) {
	if r.opts.hook != nil {
		r.opts.hook(name)
	}
}

// reload loads, checks and, when clean, swaps in the workspace, then
// publishes and prints the outcome. Unless final, a load that found a
// save under way is held back instead (it returns false): a half-written
// file, or one written again while the load read it (a file being
// written in parts may be valid YAML at every pause, so what the load
// read may not be what is being saved). A full load stats every file;
// otherwise only those the watcher named are read.
func (r *Reloader) reload(final, full bool) bool {
	r.event("loading")
	start := time.Now()
	load := r.loader.LoadInvalidated
	if full {
		load = r.loader.Load
	}
	ws, diags := load(r.dir)
	changed := r.loader.Changed()
	r.event("loaded")
	if !final && (len(r.loader.Unsettled()) > 0 || halfWritten(changed, diags)) {
		r.heldChanged = append(r.heldChanged, changed...)
		return false
	}
	if len(r.heldChanged) > 0 {
		changed = append(r.heldChanged, changed...)
		slices.Sort(changed)
		changed = slices.Compact(changed)
		r.heldChanged = nil
	}
	prev := r.Status()
	if r.published && len(changed) == 0 && prev.OK == !diags.HasErrors() && slices.Equal(prev.Diagnostics, diags) {
		return true // a touch, a chmod: nothing to tell
	}
	st := Status{Generation: prev.Generation, OK: !diags.HasErrors(), Files: len(ws.Files), Diagnostics: diags}
	if st.OK {
		st.Generation++
		r.opts.Swap(ws)
	}
	st.LoadedAt = time.Now()
	st.Took = st.LoadedAt.Sub(start)
	// The terminal first: whoever sees the status may read it there.
	r.print(st, len(changed))
	r.publish(st)
	return true
}

// print writes the diagnostics when they changed, and a status line.
func (r *Reloader) print(st Status, changed int) {
	out := r.opts.Out
	if !slices.Equal(st.Diagnostics, r.printed) {
		_ = diag.Write(out, "text", st.Diagnostics)
		r.printed = st.Diagnostics
	}
	errs, warns := st.Diagnostics.Count()
	ms := float64(st.Took.Microseconds()) / 1000
	verb := "reloaded " + plural(changed, "file")
	if !r.published {
		verb = "loaded " + plural(st.Files, "file")
	}
	r.published = true
	var line string
	switch {
	case st.OK:
		line = fmt.Sprintf("%s in %.0f ms; serving generation %d", verb, ms, st.Generation)
		if warns > 0 {
			line += " (" + plural(warns, "warning") + ")"
		}
	case st.Generation > 0:
		line = fmt.Sprintf("%s; still serving generation %d", plural(errs, "error"), st.Generation)
	default:
		line = plural(errs, "error") + "; nothing to serve until they are fixed"
	}
	fmt.Fprintln(out, line)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
