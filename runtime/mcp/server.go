// Package mcp is Membrane's Model Context Protocol server: every action a
// tenant can run on its connections is a tool an AI agent can call, over
// stdio (`membrane mcp`) or Streamable HTTP (/v1/mcp on `membrane serve`,
// a tenant token on every request).
//
// A tool is one action of one connector, named ToolName(connector,
// action). Its input and output schemas are the action's as the
// connection runs it (universal → integration → the tenant's overrides,
// resolved by connections.Service.Actions as the REST API shows them).
// With several connections to one app, a call names one by the
// ConnectionArg argument and gives the input in InputArg. A call runs
// through connections.Service.Run, the REST API's pipeline (rate limits,
// token refresh, run logs, here with origin "mcp"); a failed run is a
// tool error whose text is the problem the REST API would answer.
//
// The tools follow the tenant's connections and the workspace: each
// live tenant's list is compared with them every Options.Resync (and at
// once on Kick, after a reload), and connected clients get
// notifications/tools/list_changed when it changes.
//
//	m := mcp.New(mcp.Options{Service: svc, Verifier: v})
//	go m.Run(ctx)                            // keeps the tool lists fresh
//	mux.Handle("/v1/mcp", m.Handler())       // Streamable HTTP
//	err := m.Serve(ctx, "acme", &sdk.StdioTransport{}) // or stdio
package mcp

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// DefaultResync is how often the tool lists of the tenants with a live
// session are compared with their connections and the workspace.
const DefaultResync = 2 * time.Second

// Options configure a Server.
type Options struct {
	Service *connections.Service
	// Verifier checks the tenant tokens of the HTTP transport; Serve
	// (stdio) does not need it.
	Verifier *tenancy.Verifier
	// Logger gets one line per tool call and what goes wrong; nil is
	// slog.Default().
	Logger *slog.Logger
	// Resync is how often live tool lists are refreshed; 0 is
	// DefaultResync.
	Resync time.Duration
	// Version is the server version reported to clients.
	Version string
}

// Server serves the MCP tools of every tenant. It is safe for concurrent
// use.
type Server struct {
	o    Options
	svc  *connections.Service
	log  *slog.Logger
	kick chan struct{}

	mu      sync.Mutex
	tenants map[string]*tenantServer
}

// New returns a Server; Run keeps its tool lists fresh.
func New(o Options) *Server {
	if o.Service == nil {
		panic("mcp: New needs a Service")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	return &Server{o: o, svc: o.Service, log: o.Logger, kick: make(chan struct{}, 1), tenants: map[string]*tenantServer{}}
}

// Kick refreshes every live tool list now rather than at the next
// Resync: after the workspace was swapped, say.
func (s *Server) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run refreshes the tool lists of the tenants with a live session every
// Resync, and on Kick, until ctx ends. A tenant whose sessions have all
// ended is forgotten.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.o.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
		for _, ts := range s.live() {
			if err := ts.sync(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "mcp: the tool list was not refreshed; the previous one stays", "tenant", ts.tenant, "error", err)
			}
		}
	}
}

// live returns the tenants with a session, forgetting those that have
// had none for two rounds (one round lets a session that was being set
// up connect).
func (s *Server) live() []*tenantServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*tenantServer, 0, len(s.tenants))
	for _, key := range slices.Sorted(maps.Keys(s.tenants)) {
		ts := s.tenants[key]
		if hasSession(ts.srv) {
			ts.idle = 0
		} else if ts.idle++; ts.idle > 2 {
			delete(s.tenants, key)
			continue
		}
		out = append(out, ts)
	}
	return out
}

func hasSession(srv *mcp.Server) bool {
	for range srv.Sessions() {
		return true
	}
	return false
}

// Serve serves tenant's tools over one transport (a local agent's stdio)
// until the client goes or ctx ends.
func (s *Server) Serve(ctx context.Context, tenant string, t mcp.Transport) error {
	ts, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	err = ts.srv.Run(ctx, t)
	if errors.Is(err, context.Canceled) || errors.Is(err, mcp.ErrConnectionClosed) {
		return nil
	}
	return err
}

// tenant returns the MCP server of a tenant, made and filled on first
// use.
func (s *Server) tenant(ctx context.Context, tenant string) (*tenantServer, error) {
	s.mu.Lock()
	ts, ok := s.tenants[tenant]
	if !ok {
		ts = s.newTenant(tenant)
		s.tenants[tenant] = ts
	}
	s.mu.Unlock()
	if err := ts.syncOnce(ctx); err != nil {
		return nil, err
	}
	return ts, nil
}

// tenantServer is one tenant's MCP server: its sessions share its tools.
type tenantServer struct {
	s      *Server
	tenant string
	srv    *mcp.Server
	idle   int // rounds of Run without a session; under Server.mu

	syncMu sync.Mutex // one sync at a time
	synced bool
	tools  map[string]*tool
}

func (s *Server) newTenant(tenant string) *tenantServer {
	ts := &tenantServer{s: s, tenant: tenant, tools: map[string]*tool{}}
	ts.srv = mcp.NewServer(&mcp.Implementation{Name: "membrane", Title: "Membrane", Version: s.o.Version}, &mcp.ServerOptions{
		Instructions: "Each tool runs one action on one of your connected apps, through Membrane. " +
			"A tool's name is connector__action. Where you have several connections to one app, name the connection in \"" +
			ConnectionArg + "\" and put the action's input in \"" + InputArg + "\". A failed run is a tool error whose text is a " +
			"problem details document (type, detail, errors[] with JSON pointers into the arguments).",
		Logger: s.log,
		// Advertised even with no tools yet: a connection may come.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
	})
	// A client listing the tools gets them as they are now, not as the
	// last round of Run saw them.
	ts.srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				if err := ts.sync(ctx); err != nil {
					s.log.WarnContext(ctx, "mcp: the tool list was not refreshed; the previous one stays", "tenant", tenant, "error", err)
				}
			}
			return next(ctx, method, req)
		}
	})
	return ts
}

// syncOnce fills a new tenant's tools.
func (ts *tenantServer) syncOnce(ctx context.Context) error {
	ts.syncMu.Lock()
	done := ts.synced
	ts.syncMu.Unlock()
	if done {
		return nil
	}
	return ts.sync(ctx)
}

// sync makes the tools those of the tenant's connections in the current
// workspace: new and changed ones are added, gone ones removed, and the
// SDK tells the sessions the list changed.
func (ts *tenantServer) sync(ctx context.Context) error {
	want, err := ts.s.toolsOf(ctx, ts.tenant)
	if err != nil {
		return err
	}
	ts.syncMu.Lock()
	defer ts.syncMu.Unlock()
	var gone []string
	for name := range ts.tools {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
		}
	}
	if len(gone) > 0 {
		ts.srv.RemoveTools(gone...)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		t := want[name]
		if old, ok := ts.tools[name]; ok && old.fingerprint == t.fingerprint {
			continue
		}
		ts.srv.AddTool(t.def, ts.s.handler(ts.tenant, t.bind))
	}
	ts.tools, ts.synced = want, true
	return nil
}

// pageSize is how many connections one store read lists.
const pageSize = 1000

// toolsOf builds the tools of a tenant: one per action of each connector
// it has connections to, the connections oldest first.
func (s *Server) toolsOf(ctx context.Context, tenant string) (map[string]*tool, error) {
	ws := s.svc.Workspace()
	byConnector := map[string][]*store.Connection{}
	cursor := ""
	for {
		page, err := s.svc.List(ctx, tenant, connections.ListRequest{Cursor: cursor, Limit: pageSize})
		if err != nil {
			return nil, err
		}
		for _, c := range page.Items {
			if ws.Spec.Connectors[c.Connector] != nil {
				byConnector[c.Connector] = append(byConnector[c.Connector], c)
			}
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	out := map[string]*tool{}
	for _, connector := range slices.Sorted(maps.Keys(byConnector)) {
		offers := map[string][]offer{} // action key → its offers
		var keys []string
		for _, c := range byConnector[connector] {
			acts, err := s.svc.Actions(ctx, tenant, c.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				// One connection's broken override hides its tools,
				// not the tenant's others; running them says why.
				s.log.WarnContext(ctx, "mcp: a connection's actions could not be resolved; its tools are left out", "tenant", tenant, "connection", c.ID, "error", err)
				continue
			}
			for _, a := range acts {
				if _, ok := offers[a.Key]; !ok {
					keys = append(keys, a.Key)
				}
				offers[a.Key] = append(offers[a.Key], offer{conn: c, info: a})
			}
		}
		for _, key := range keys {
			t, err := buildTool(connector, offers[key])
			if err != nil {
				s.log.WarnContext(ctx, "mcp: an action's schemas could not be read; its tool is left out", "tenant", tenant, "connector", connector, "action", key, "error", err)
				continue
			}
			out[t.def.Name] = t
		}
	}
	return out, nil
}
