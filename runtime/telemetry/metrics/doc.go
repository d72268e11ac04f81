// Package metrics is Membrane's Prometheus metrics and the console's
// health figures, fed by the same hooks: the engine's Observer (runs and
// upstream requests), the API's, the store's, OAuth refreshes, polls,
// webhooks and deliveries. It keeps its own registry (never the global
// one), so two servers in one process (tests) never share a series.
//
// Labels are bounded: connector and action keys come from the loaded
// workspace (anything else, and anything past a cap, is "other"), API
// routes are patterns, never paths, and no tenant or connection id is
// ever a label.
//
// A scrape never blocks a run: counters are atomic, the connection
// counts are a cached snapshot refreshed in the background, and the
// per-minute ring the console draws from is locked per connector for a
// few nanoseconds at a time.
package metrics
