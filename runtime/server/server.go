// Package server composes a Membrane server from a workspace directory:
// the store, tenant tokens, OAuth2, the connection lifecycle, the REST API
// and the connect page, with health checks and a graceful shutdown.
// `membrane serve` is a thin wrapper around it.
//
//	s, err := server.New(ctx, server.Config{Dir: "./integrations"}, logger)
//	defer s.Close()
//	err = s.ListenAndServe(ctx) // until ctx ends; runs in flight finish
//
// Routes: /v1/… (the REST API), /v1/mcp (the MCP server's Streamable
// HTTP transport, see package mcp), /webhooks/… (the public webhook ingress,
// see package ingress), /openapi.json, /connect (the connect page),
// /console (the console: an admin token under serve, open on loopback for
// a development server), /healthz (the process is up), /readyz (the
// store answers and the server is not shutting down) and / (what this
// server is, with links to the others).
package server

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/api"
	"github.com/membrane-dev/membrane/runtime/connect"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/console"
	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/ingress"
	"github.com/membrane-dev/membrane/runtime/mcp"
	"github.com/membrane-dev/membrane/runtime/oauth"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/runtime/telemetry/metrics"
	"github.com/membrane-dev/membrane/runtime/telemetry/requestid"
	"github.com/membrane-dev/membrane/runtime/telemetry/tracing"
	"github.com/membrane-dev/membrane/runtime/tenancy"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
)

// Server is a composed Membrane server. Make it with New, serve it with
// ListenAndServe or Serve, and Close it.
type Server struct {
	cfg       Config
	log       *slog.Logger
	Store     store.Store
	Service   *connections.Service
	PublicURL string
	http      *httpx.Client
	engine    *engine.Engine
	// tracer exports spans; nil when tracing is off.
	tracer *tracing.Tracer
	// Webhooks is the public webhook ingress (/webhooks/…) and its
	// counters; Inbox processes what it stores; Lifecycle subscribes,
	// unsubscribes and renews webhooks at the apps.
	Webhooks  *ingress.Handler
	Inbox     *events.InboxWorker
	Lifecycle *events.Lifecycle

	// Scheduler runs the polls of subscriptions while the server serves;
	// Kick it when a subscription is created or resumed.
	Scheduler *schedule.Scheduler
	// Deliverer routes the outbox to the destinations and delivers it
	// while the server serves.
	Deliverer *delivery.Deliverer
	// MCP serves the tenants' actions as MCP tools: at /v1/mcp, and
	// over stdio for `membrane mcp`.
	MCP *mcp.Server
	// Verifier checks tenant tokens; DevSecret is true when it checks
	// them with a development secret generated into the data directory.
	Verifier  *tenancy.Verifier
	DevSecret bool
	// Metrics are what /metrics serves (on Config.MetricsAddr) and the
	// console's front page draws.
	Metrics   *metrics.Metrics
	metricsLn net.Listener
	gen       generation

	// secrets gives the deliverer the signing secrets of destinations;
	// logRetention is how long delivery attempts and the routed log are
	// kept.
	secrets      *deliverySecrets
	logRetention time.Duration
	// apps gives webhook signatures the app secrets of membrane.yaml.
	apps *appSecrets

	handler http.Handler
	mux     *http.ServeMux
	// endStreams ends the API's event streams, at shutdown.
	endStreams func()
	stopping   atomic.Bool
	closeMu    sync.Mutex
	closed     bool
}

// LoadError is a workspace that does not validate; the server does not
// start on one.
type LoadError struct{ Diagnostics diag.List }

func (e *LoadError) Error() string {
	return "the workspace has errors; run 'membrane validate' for the list:\n" + diag.ListError(e.Diagnostics).Error()
}

// New loads the workspace, opens (and migrates) the store and wires the
// server. It fails on a workspace with errors, a store it cannot open, or
// a missing secret, naming what to fix.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Every line logged with a request's context names its request id
	// (and trace).
	log = slog.New(requestid.LogHandler(log.Handler()))
	cfg.defaults()

	// The workspace first: a broken spec should not touch the store.
	loaded := cfg.Spec
	var diags diag.List
	if loaded == nil {
		loaded, diags = layers.Load(cfg.Dir)
		if diags.HasErrors() {
			return nil, &LoadError{Diagnostics: diags}
		}
		for _, d := range diags {
			log.Warn("workspace warning", "at", d.Pos.String(), "message", d.Message, "rule", d.Rule)
		}
	}
	wc := loaded.Config
	tracer, err := newTracer(ctx, cfg, wc, log)
	if err != nil {
		return nil, err
	}
	made := false
	defer func() {
		if !made { // its exporting goroutine ends with the server that failed to start
			_ = tracer.Shutdown(context.WithoutCancel(ctx))
		}
	}()
	client := httpx.New(httpx.Config{
		AllowPrivate:    cfg.AllowPrivate || wc.AllowPrivate(),
		AllowedNetworks: wc.AllowedNetworks(),
	})
	met := metrics.New(metrics.Options{})
	// One engine for every snapshot of the workspace (Swap), so login
	// sessions and rate limits outlive a reload.
	eng := engine.New(engine.Options{HTTP: client, Observer: met.Engine(), Tracer: tracer})
	ws := membrane.New(membrane.Options{HTTP: client, Engine: eng}, loaded)

	dsn, embedded, err := cfg.storeDSN(wc)
	if err != nil {
		return nil, err
	}
	keys, devSecret, err := cfg.keys(wc, embedded, func(msg string) { log.Warn(msg) })
	if err != nil {
		return nil, err
	}
	cfg.listen(wc, devSecret, func(msg string) { log.Warn(msg) })
	publicURL, err := cfg.publicURL(wc)
	if err != nil {
		return nil, err
	}
	workspaceKey := "default"
	if wc != nil && wc.Key != "" {
		workspaceKey = wc.Key
	}
	verifier, err := tenancy.NewVerifier(workspaceKey, keys)
	if err != nil {
		return nil, fmt.Errorf("tenant token keys: %w", err)
	}

	if err := cfg.checkDeliverySecrets(wc); err != nil {
		return nil, err
	}
	if err := cfg.checkWebhookSecrets(wc); err != nil {
		return nil, err
	}

	metricsLn, err := metricsListener(cfg.MetricsAddr)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started && metricsLn != nil {
			metricsLn.Close()
		}
	}()
	st, err := openStore(ctx, dsn, log, store.WithObserver(met.Store))
	if err != nil {
		return nil, err
	}
	met.CountConnections(st.ConnectionStates)
	if err := syncDestinations(ctx, st, wc); err != nil {
		st.Close()
		return nil, err
	}

	clients := oauthClients(wc, cfg.lookupEnv)
	for _, msg := range missingOAuthClients(loaded, cfg.lookupEnv) {
		log.Warn(msg)
	}
	var svc *connections.Service // set below; the providers read its workspace at each use
	// Always made: a reloaded workspace may gain an OAuth2 connector.
	m, err := oauth.New(oauth.Options{
		HTTP:        client,
		Tokens:      connections.NewTokenStore(st),
		States:      connections.NewStateStore(st),
		Providers:   connections.CurrentProviders(func() *membrane.Workspace { return svc.Workspace() }, clients),
		StateSecret: derive(keys, "membrane oauth state"),
		Logger:      log,
		OnRefresh:   met.Refresh,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	var retention time.Duration
	if wc != nil && wc.RunLogs != nil {
		retention = wc.RunLogs.Retention.Duration
	}
	svc = connections.New(connections.Options{
		Store: st, Workspace: ws, OAuth: m, OAuthClients: clients, HTTP: client,
		Logger: log, RunLogRetention: retention, MaintainInterval: cfg.MaintainInterval, Tracer: tracer,
	})

	var returnOrigins []string
	if wc != nil && wc.Connect != nil {
		returnOrigins = wc.Connect.ReturnOrigins
	}
	connectPage, err := connect.New(connect.Options{
		Service: svc, Verifier: verifier, PublicURL: publicURL,
		ReturnOrigins: returnOrigins, SessionKey: derive(keys, "membrane connect session"), Logger: log,
		States: connections.NewStateStore(st),
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	// Closed when serving begins to shut down: the event streams end then
	// (their clients resume with Last-Event-ID), or Shutdown would wait
	// for them until its timeout.
	streamsDone := make(chan struct{})
	// The API wakes the deliverer after a replay or an enable; the
	// deliverer is made below, once the server exists.
	var deliverer atomic.Pointer[delivery.Deliverer]
	apiHandler := api.New(api.Options{Service: svc, Store: st, Verifier: verifier, Logger: log, OAuthLinks: connectPage,
		PublicURL: publicURL, Shutdown: streamsDone, AllowPrivateNetworks: wc.DeliveryAllowPrivate(),
		Observe: met.API,
		Wake: func() {
			if d := deliverer.Load(); d != nil {
				d.Kick()
			}
		}})
	var minter *tenancy.Minter
	if len(keys.HMACSecret) > 0 {
		// The console's links to the connect page carry a short-lived
		// tenant token; without the secret it shows the API way instead.
		if minter, err = tenancy.NewMinter(workspaceKey, keys.HMACSecret); err != nil {
			st.Close()
			return nil, err
		}
	}
	consolePage, err := console.New(console.Options{
		Service: svc, Store: st, Diagnostics: cfg.Diagnostics, Open: cfg.OpenConsole,
		Verifier: verifier, SessionKey: derive(keys, "membrane console session"), Minter: minter,
		Secure: strings.HasPrefix(publicURL, "https://"), Logger: log, Health: met,
	})
	if err != nil {
		st.Close()
		return nil, err
	}

	s := &Server{cfg: cfg, log: log, Store: st, Service: svc, PublicURL: publicURL, http: client, engine: eng, tracer: tracer,
		Verifier: verifier, DevSecret: devSecret, Metrics: met, metricsLn: metricsLn, endStreams: sync.OnceFunc(func() { close(streamsDone) })}
	s.MCP = mcp.New(mcp.Options{Service: svc, Verifier: verifier, Logger: log, Version: cfg.Version})
	s.gen.n.Store(1)
	if cfg.Diagnostics == nil { // else followLoads records the reloader's
		met.WorkspaceLoaded(1, loaded, true, diags)
	} else {
		met.SetWorkspace(loaded)
	}
	s.secrets = &deliverySecrets{cfg: &s.cfg, now: time.Now}
	s.secrets.set(wc)
	s.logRetention = DefaultLogRetention
	if wc != nil && wc.Delivery != nil && wc.Delivery.LogRetention.Duration > 0 {
		s.logRetention = wc.Delivery.LogRetention.Duration
	}
	if s.Deliverer, err = newDeliverer(cfg, st, wc, s.secrets.secrets, met.Delivery, log); err != nil {
		st.Close()
		return nil, err
	}
	deliverer.Store(s.Deliverer)
	s.Scheduler = newScheduler(cfg, st, svc, met, log)
	mux := http.NewServeMux()
	s.mux = mux
	mux.Handle("/v1/", apiHandler)
	mux.Handle("/v1/mcp", s.MCP.Handler())
	mux.Handle("GET /openapi.json", apiHandler)
	mux.Handle("/connect", connectPage)
	mux.Handle("/connect/", connectPage)
	mux.Handle("/console", consolePage)
	mux.Handle("/console/", consolePage)
	s.apps = &appSecrets{lookup: cfg.lookupEnv}
	s.apps.set(wc)
	wh := &events.Webhooks{Store: st, Conns: svc, AppSecrets: s.apps.of}
	s.Inbox = &events.InboxWorker{Webhooks: wh, Log: log, Lease: cfg.InboxLease}
	s.Lifecycle = &events.Lifecycle{Store: st, Conns: svc, PublicURL: publicURL, Log: log}
	// Subscribing registers the webhook at the app and keeps the route key
	// a connector-wide URL finds the subscription by.
	svc.SetSubscriber(s.Lifecycle)
	s.Webhooks = ingress.New(ingress.Options{Store: st, Webhooks: wh, PublicURL: publicURL, Stored: s.Inbox.Wake, Logger: log})
	mux.Handle("/webhooks/", s.Webhooks)
	met.Webhooks(s.Webhooks.Counters.Snapshot)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /{$}", s.root)
	s.handler = requestid.Middleware(tracing.Middleware(tracer, mux, "/healthz", "/readyz"))
	made, started = true, true
	return s, nil
}

// Workspace is the workspace served now.
func (s *Server) Workspace() *membrane.Workspace { return s.Service.Workspace() }

// Swap serves ws from now on, as a development server does when a spec
// file changes: every call that starts after it uses ws, calls under way
// finish with the workspace they started with. Of the workspace's
// membrane.yaml, the delivery destinations follow (the store's file:NAME
// destinations become the new file's), and so do the names of the
// webhook secrets; the rest (store, secret,
// addresses, retry schedule) is read at start only.
func (s *Server) Swap(ws *spec.Workspace) {
	s.Service.SetWorkspace(membrane.New(membrane.Options{HTTP: s.http, Engine: s.engine}, ws))
	if gen := s.gen.n.Add(1); s.cfg.Diagnostics == nil {
		s.Metrics.WorkspaceLoaded(gen, ws, true, nil)
	} else {
		s.Metrics.SetWorkspace(ws)
	}
	if err := s.cfg.checkDeliverySecrets(ws.Config); err != nil {
		// Their deliveries fail, with this error, until the server is
		// restarted with the variable set.
		s.log.Warn("membrane.yaml's delivery destinations", "error", err.Error())
	}
	s.secrets.set(ws.Config)
	if err := s.cfg.checkWebhookSecrets(ws.Config); err != nil {
		// Those connectors' webhooks are refused until the variable is
		// set and the server restarted.
		s.log.Warn("membrane.yaml's webhook secrets", "error", err.Error())
	}
	s.apps.set(ws.Config)
	s.MCP.Kick() // the tools follow the files
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := syncDestinations(ctx, s.Store, ws.Config); err != nil {
		s.log.Error("reloading membrane.yaml's delivery destinations; the previous ones stay", "error", err)
	}
}

// Handle adds a route to the server's mux (net/http patterns), for what
// a development server serves besides: its diagnostics and console. Call
// it before serving.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler serves every route; for tests and for embedding in another
// server.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr is where ListenAndServe listens: Config.Addr, or the default New
// chose (DevAddr while the workspace secret is a generated one).
func (s *Server) Addr() string { return s.cfg.Addr }

// ListenAndServe listens on Config.Addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: /readyz
// turns 503 at once, no new connection is accepted, and requests in
// flight (runs, OAuth callbacks) finish within ShutdownTimeout. The
// connection maintenance loop, the poll scheduler and the deliverer run
// alongside; polls in flight at shutdown get ShutdownTimeout too. Serve does not close the
// store; Close does.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           bodyDeadline(s.handler, s.cfg.ReadBodyTimeout),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		// No ReadTimeout or WriteTimeout: a run may take minutes, and a
		// deadline left on the connection would cancel it. The body has
		// its own deadline (bodyDeadline).
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests keep their context through shutdown, so a run in
		// flight is not cancelled by it.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hs.RegisterOnShutdown(s.endStreams)
	maintainCtx, stopMaintain := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Service.Maintain(maintainCtx) })
	wg.Go(func() { _ = s.Scheduler.Run(maintainCtx) })
	wg.Go(func() { _ = s.Inbox.Run(maintainCtx) })
	wg.Go(func() { _ = s.Deliverer.Run(maintainCtx) })
	wg.Go(func() { s.Lifecycle.RunRenewals(maintainCtx, 0) })
	wg.Go(func() { _ = s.MCP.Run(maintainCtx) })
	wg.Go(func() { s.serveMetrics(maintainCtx) })
	wg.Go(func() { s.followLoads(maintainCtx) })
	wg.Go(func() {
		pruneDeliveries(maintainCtx, s.Store, s.logRetention, s.cfg.DeliveryPruneInterval, time.Now, s.log.With("component", "delivery"))
	})

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "publicUrl", s.PublicURL, "store", s.Store.Engine(),
		"connectors", len(s.Workspace().Spec.Connectors))

	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		s.stopping.Store(true)
		s.log.Info("shutting down; waiting for requests in flight", "timeout", s.cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		err = hs.Shutdown(sctx)
		cancel()
		if err != nil {
			err = fmt.Errorf("shutdown: %w; requests still in flight were cut off", err)
			hs.Close()
		}
		<-served
	}
	stopMaintain()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close closes the store.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// Spans still queued get a few seconds: an unreachable collector must
	// not hold the process.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.tracer.Shutdown(ctx); err != nil {
		s.log.Warn("traces not all exported at shutdown", "error", err.Error())
	}
	if s.metricsLn != nil {
		s.metricsLn.Close() // never served, or closed already
	}
	return s.Store.Close()
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusOK, "ok", "")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		writeStatus(w, http.StatusServiceUnavailable, "stopping", "the server is shutting down")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.log.Warn("readiness: the store does not answer", "error", err)
		writeStatus(w, http.StatusServiceUnavailable, "unavailable", "the store does not answer")
		return
	}
	writeStatus(w, http.StatusOK, "ready", "")
}

func writeStatus(w http.ResponseWriter, code int, status, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if detail == "" {
		fmt.Fprintf(w, "{\"status\":%q}\n", status)
		return
	}
	fmt.Fprintf(w, "{\"status\":%q,\"detail\":%q}\n", status, detail)
}

// derive gives each use of the workspace secret its own key, so a value
// signed for one purpose (an OAuth state) is never valid for another (a
// connect session). Replicas derive the same keys. Without a secret
// (public keys only) it is random: states and sessions then stay with the
// replica that made them.
func derive(k tenancy.Keys, purpose string) []byte {
	if len(k.HMACSecret) == 0 {
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}
	b, err := hkdf.Key(sha256.New, k.HMACSecret, nil, purpose, 32)
	if err != nil {
		panic(err) // only for a length beyond 255*32
	}
	return b
}

func randomSecret() string {
	b := make([]byte, 48)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
