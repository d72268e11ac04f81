package layers

import (
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/compile"
	"github.com/membrane-dev/membrane/spec/diag"
)

// Load reads a workspace and checks it whole: every file against its
// kind's schema and the references between files (spec.Load), every
// expression compiled in the place it stands (compile.Check), then every
// override resolved through its layers (Check). It is the one way the
// CLI, the servers and the Go API load a workspace, so a check added here
// is made everywhere. The diagnostics come sorted; the workspace holds
// whatever could be read.
func Load(paths ...string) (*spec.Workspace, diag.List) {
	ws, diags := spec.Load(paths...)
	return ws, checked(ws, diags)
}

// Loader loads a workspace again and again as Load does, re-reading only
// the files that changed (see spec.Loader, whose other methods it keeps).
// Expressions compile through spec/expr's cache, so those of unchanged
// files are not compiled again.
type Loader struct {
	*spec.Loader
}

// NewLoader returns a Loader with nothing cached.
func NewLoader() *Loader { return &Loader{spec.NewLoader()} }

// Load loads and checks the workspace, re-using what is unchanged.
func (l *Loader) Load(paths ...string) (*spec.Workspace, diag.List) {
	ws, diags := l.Loader.Load(paths...)
	return ws, checked(ws, diags)
}

// LoadInvalidated loads and checks the workspace, trusting that only the
// paths given to Invalidate changed (see spec.Loader.LoadInvalidated).
func (l *Loader) LoadInvalidated(paths ...string) (*spec.Workspace, diag.List) {
	ws, diags := l.Loader.LoadInvalidated(paths...)
	return ws, checked(ws, diags)
}

func checked(ws *spec.Workspace, diags diag.List) diag.List {
	diags = append(diags, compile.Check(ws)...)
	diags = append(diags, Check(ws)...)
	diags.Sort()
	return diags
}
