package spec

import "github.com/membrane-dev/membrane/spec/diag"

// LoadOneFile loads a workspace of one file's content, with the checks
// that need a whole workspace: what Load does, without the file system.
func LoadOneFile(name string, data []byte) (*Workspace, diag.List) {
	els, diags := LoadFile(name, data)
	ws := newWorkspace()
	for _, el := range els {
		ws.add(el, &diags)
	}
	check(ws, &diags)
	return ws, diags
}
