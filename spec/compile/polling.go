package compile

import (
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// checkPollMode reports a polling whose mode contradicts its fields: an
// incremental poll needs a cursor to start from, and a full scan lists
// every record each time, so a cursor would make it miss the records
// before it (and report them deleted).
func checkPollMode(e *spec.Event, diags *diag.List) {
	p := e.Polling
	modePos := e.Pos
	if n := e.Doc.Lookup("/polling/mode"); n != nil {
		modePos = n.Pos
	}
	switch p.Mode {
	case spec.PollFullScan:
		if !p.Cursor.IsZero() {
			diags.Errorf(p.Cursor.Pos, "polling", "`cursor` is given but `mode` is fullScan (at %s): a full scan lists every record each time and would report the records before the cursor as deleted; remove `cursor`, or set `mode: incremental`", modePos)
		}
	case spec.PollIncremental:
		if p.Cursor.IsZero() {
			diags.Errorf(modePos, "polling", "`mode` is incremental but there is no `cursor`: an incremental poll lists the records changed since `state.cursor`; add `cursor` (e.g. the latest updatedAt of `records`), or set `mode: fullScan`")
		}
	}
}
