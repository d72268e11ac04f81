// Package tree holds what a spec file is read into before it means
// anything: JSON-shaped trees of Values, each node with the file, line and
// column it was written at (and, once layers are merged, the layer it came
// from), so that every diagnostic and every run-time error can name its
// place.
//
// ParseYAML reads the documents of a YAML file into Values, within bounds
// a hostile or broken file cannot exhaust (MaxFileSize, alias expansion,
// nesting), and words the YAML parser's errors at the place to fix.
// Pointer and Value.Lookup address nodes by JSON Pointer (RFC 6901).
//
// It is the bottom of the flow files → spec → layers → runtime: spec
// decodes Values into the file kinds, spec/schema checks them against
// JSON Schemas, layers merges them with their provenance, and the runtime
// reads request bodies and mappings from them. It depends on nothing of
// Membrane but spec/diag.
package tree
