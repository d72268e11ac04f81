// Package spec is the file model of a Membrane workspace and its loading:
// the Go types of every file kind (Connector, UniversalAction,
// UniversalEvent, Action, Event, ConnectionOverride, the Workspace
// settings, ConnectorTest), read from YAML with the place of every field
// kept, and the checks that need no more than the files.
//
// Load reads every spec file under the paths given (Loader does it again
// and again, re-reading only what changed, for a development server),
// checks each document against its kind's JSON Schema (package schemas),
// decodes it, and checks the workspace as a whole: references between
// files, the inline JSON Schemas, the contracts between universal and
// integration layers, connector tests. Every problem is a diagnostic
// (spec/diag) at the file, line and column to fix; LoadFile and Decode do
// the same for one file or one merged document.
//
// Data flows one way: files → spec → layers → runtime. Under spec,
// spec/tree holds the YAML values with their positions, spec/schema the
// inline JSON Schemas and spec/expr the CEL templates; spec/compile turns
// a loaded workspace's templates into what runs. layers.Load is the one
// loader callers use: spec.Load, then compile.Check, then the checks
// across layers.
package spec
