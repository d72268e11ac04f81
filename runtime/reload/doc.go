// Package reload keeps a development server on the workspace as it is on
// disk: it watches every directory of the tree, and on a save re-loads what
// changed (spec.Loader re-parses changed files only), validates and
// compiles, then hands one immutable snapshot to Swap. A broken save keeps
// the last good snapshot serving and reports what is wrong, where.
//
//	r := reload.New(reload.Options{Dir: dir, Swap: srv.Swap, Out: os.Stderr})
//	srv.Handle("/dev/", r.Handler())
//	go r.Run(ctx)
//
// # The API consumers rely on (keep it stable)
//
// Status is the state after the latest load: Generation counts the
// snapshots handed to Swap (0 until one loads clean) and is the one being
// served; OK says whether the latest load was clean (when false, the
// Diagnostics are why Generation is still served); Files is how many spec
// files that load read; Diagnostics are its errors and warnings; LoadedAt
// and Took when it happened and how long it took.
//
//   - Status() returns the latest Status at once.
//   - Subscribe(ctx) returns a channel that first gets the current Status,
//     then every new one, and is closed when ctx ends or Run returns. It
//     holds one Status: a reader that falls behind skips to the newest,
//     never blocks the reloader.
//   - Handler() serves GET /dev/diagnostics, the Status as JSON
//     ({generation, loadedAt, ok, files, diagnostics, tookMs}; diagnostics
//     as `membrane validate --format json` writes them), and GET
//     /dev/events, a text/event-stream sending an event `status` with the
//     same JSON (its id the generation) at once and on every change, and a
//     comment every 15 s to keep proxies from closing it.
//
// On Out it prints the diagnostics whenever they change, in the text form
// of `membrane validate`, then one line such as
// "reloaded 3 files in 12 ms; serving generation 7" or
// "2 errors; still serving generation 6".
//
// # What counts as a change
//
// Events are debounced per path: a reload waits until every changed path
// has been quiet for Debounce (or MaxWait has passed since the first), so a
// `git checkout` of 500 files is one reload. Editors' atomic saves (a temp
// file renamed over, vim's backup-and-rename, truncate-then-write) and
// Kubernetes ConfigMap volumes (a `..data` symlink swapped) are followed;
// .membrane, hidden directories, node_modules, vendor and editor temp files
// (*.swp, *~, 4913, .#*, *.tmp) are not. A half-written file (empty, or a
// YAML syntax error at its end), or one written again while a load read
// it, is taken as a save under way: it is reported only if it is still so
// a grace period later. Every Rescan the tree is stat-ed in case an event
// was missed.
//
// A program that writes a file in parts and pauses longer than Debounce
// between them may have a valid first part loaded and served: nothing on
// disk tells a pause from the end of a save. Such programs should write
// elsewhere and rename the file into place, as editors do.
package reload
