package membrane

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// Options configure a loaded workspace.
type Options struct {
	// HTTP is the outbound client; nil makes one with safe defaults
	// (public addresses only).
	HTTP *httpx.Client
	// Engine runs actions; nil makes one on HTTP.
	Engine *engine.Engine
}

// maxPlans bounds the compiled plans kept per workspace: one per action
// and distinct override content.
const maxPlans = 4096

// Workspace is a loaded, valid workspace that runs actions. Plans are
// compiled once per action and override set, then reused.
type Workspace struct {
	Spec   *spec.Workspace
	engine *engine.Engine

	mu    sync.Mutex
	plans map[string]*planEntry
}

type planEntry struct {
	once sync.Once
	plan *engine.Plan
	err  error
}

// Load reads and checks a workspace. It fails when the workspace has
// errors; diags holds every diagnostic, warnings included.
func Load(o Options, paths ...string) (*Workspace, diag.List, error) {
	ws, diags := layers.Load(paths...)
	if err := diags.Err(); err != nil {
		return nil, diags, err
	}
	return New(o, ws), diags, nil
}

// New serves an already loaded workspace.
func New(o Options, ws *spec.Workspace) *Workspace {
	e := o.Engine
	if e == nil {
		e = engine.New(engine.Options{HTTP: o.HTTP})
	}
	return &Workspace{Spec: ws, engine: e, plans: map[string]*planEntry{}}
}

// RunRequest names an action, the connection it acts through and its input.
type RunRequest struct {
	Connector string
	// Action is the connector's action key or a universal action key it
	// implements.
	Action     string
	Connection engine.Connection
	// Overrides are the connection layer, applied in order. Plans are
	// cached by the overrides' content.
	Overrides []*spec.ConnectionOverride
	Input     any
	Options   engine.RunOptions
}

// Run resolves, compiles (once) and runs an action.
func (w *Workspace) Run(ctx context.Context, req RunRequest) (*engine.Result, error) {
	p, err := w.Plan(req.Connector, req.Action, req.Overrides...)
	if err != nil {
		return nil, err
	}
	return w.engine.Run(ctx, p, &req.Connection, req.Input, req.Options)
}

// TestConnection checks a connection's credentials with its connector's
// test request (see engine.Engine.TestConnection).
func (w *Workspace) TestConnection(ctx context.Context, connector string, conn engine.Connection, overrides ...*spec.ConnectionOverride) (*engine.Result, error) {
	// An action key never holds a NUL, so this key names no action's plan.
	p, err := w.cached(planKey(connector, "\x00connector", overrides), func() (*engine.Plan, error) {
		rc, diags := layers.ResolveConnector(w.Spec, connector, overrides...)
		if err := diags.Err(); err != nil {
			return nil, err
		}
		return engine.NewConnectorPlan(rc), nil
	})
	if err != nil {
		return nil, err
	}
	return w.engine.TestConnection(ctx, p, &conn, engine.RunOptions{})
}

// Plan returns the compiled plan of an action with overrides, building it
// on first use.
func (w *Workspace) Plan(connector, action string, overrides ...*spec.ConnectionOverride) (*engine.Plan, error) {
	return w.cached(planKey(connector, action, overrides), func() (*engine.Plan, error) {
		r, diags := layers.ResolveAction(w.Spec, connector, action, overrides...)
		if err := diags.Err(); err != nil {
			return nil, err
		}
		p, err := engine.NewPlan(r)
		if err == nil {
			p.Calls = func(key string) (*engine.Plan, error) { return w.Plan(connector, key, overrides...) }
		}
		return p, err
	})
}

// cached returns the plan under key, building it once.
func (w *Workspace) cached(key string, build func() (*engine.Plan, error)) (*engine.Plan, error) {
	w.mu.Lock()
	e, ok := w.plans[key]
	if !ok && len(w.plans) >= maxPlans {
		// Overrides come and go with connections; rather than track
		// which plans are still used, start over when the cache is full.
		clear(w.plans)
	}
	if !ok {
		e = &planEntry{}
		w.plans[key] = e
	}
	w.mu.Unlock()
	e.once.Do(func() { e.plan, e.err = build() })
	return e.plan, e.err
}

// planKey identifies a plan by action and by the content of its overrides,
// so an edited override compiles anew and an unchanged one never does.
func planKey(connector, action string, overrides []*spec.ConnectionOverride) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", connector, action)
	for _, o := range overrides {
		b, _ := json.Marshal(o)
		h.Write([]byte{0})
		h.Write(b)
	}
	return string(h.Sum(nil))
}

// ForgetConnection drops what the engine keeps of a connection (its
// custom login sessions), once it is deleted or given new credentials.
func (w *Workspace) ForgetConnection(id string) { w.engine.ForgetSessions(id) }

// Engine is the engine that runs the workspace's plans: event polls share
// it (and its HTTP client, rate limits and sessions) with actions.
func (w *Workspace) Engine() *engine.Engine { return w.engine }
