package metrics

import (
	"sync"

	"github.com/membrane-dev/membrane/spec"
)

// labels decides the connector and action label values: keys of the
// loaded workspace, within the caps; anything else is Other. Before a
// workspace is set every key is taken, within the caps.
type labels struct {
	mu sync.RWMutex
	// known is the workspace's connectors and their actions; nil until
	// set.
	known map[string]map[string]bool
	// kept is every value handed out so far: the caps count them, as
	// Prometheus keeps a series once made.
	keptConnectors map[string]bool
	keptActions    map[[2]string]bool
}

func (l *labels) init() {
	l.keptConnectors = map[string]bool{}
	l.keptActions = map[[2]string]bool{}
}

func (l *labels) set(ws *spec.Workspace) {
	known := make(map[string]map[string]bool, len(ws.Connectors))
	for k := range ws.Connectors {
		acts := map[string]bool{}
		for a := range ws.Actions[k] {
			acts[a] = true
		}
		known[k] = acts
	}
	l.mu.Lock()
	l.known = known
	l.mu.Unlock()
}

// connector is the label value of a connector key.
func (l *labels) connector(c string) string {
	l.mu.RLock()
	ok := l.keptConnectors[c]
	_, inWS := l.known[c]
	unset := l.known == nil
	l.mu.RUnlock()
	if ok {
		return c
	}
	if !unset && !inWS {
		return Other
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keptConnectors[c] {
		return c
	}
	if len(l.keptConnectors) >= MaxConnectors {
		return Other
	}
	l.keptConnectors[c] = true
	return c
}

// action is the label values of a connector's action.
func (l *labels) action(c, a string) (string, string) {
	c = l.connector(c)
	if c == Other {
		return Other, Other
	}
	k := [2]string{c, a}
	l.mu.RLock()
	ok := l.keptActions[k]
	inWS := l.known == nil || l.known[c][a]
	l.mu.RUnlock()
	if ok {
		return c, a
	}
	if !inWS {
		return c, Other
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keptActions[k] {
		return c, a
	}
	if len(l.keptActions) >= MaxActions {
		return c, Other
	}
	l.keptActions[k] = true
	return c, a
}
