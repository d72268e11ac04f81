// Package riverbench measures River (github.com/riverqueue/river) against
// the store's own poll claims for periodic per-subscription work, on
// PostgreSQL, side by side in one run. It is a module of its own so that
// Membrane's go.mod does not carry River:
//
//	cd runtime/events/schedule/riverbench
//	go test -run '^$' -bench . -benchtime 3x
//
// The results and the decision they led to are in docs/perf-events.md.
package riverbench
