package metrics

import (
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// WorkspaceLoaded records a load of the workspace: its generation (loads
// served clean so far), whether it loaded clean, and its diagnostics. A
// clean load also makes its connectors and actions the label values kept.
func (m *Metrics) WorkspaceLoaded(generation int64, ws *spec.Workspace, ok bool, diags diag.List) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.loads.WithLabelValues(result).Inc()
	if ok && ws != nil {
		m.SetWorkspace(ws)
	}
	m.generation.Set(float64(generation))
	bySeverity := map[string]int{"error": 0, "warning": 0}
	for _, d := range diags {
		bySeverity[d.Severity.String()]++
	}
	for s, n := range bySeverity {
		m.diagnostics.WithLabelValues(s).Set(float64(n))
	}
}
