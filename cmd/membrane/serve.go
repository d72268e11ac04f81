package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/spec/diag"
)

func newServeCmd() *cobra.Command {
	var (
		cfg                 server.Config
		logFormat, logLevel string
	)
	cmd := &cobra.Command{
		Use:   "serve [--dir DIR] [--store DSN] [--addr ADDR]",
		Short: "Serve the workspace: the REST API, the connect page and connection upkeep",
		Long: "serve loads and validates the workspace, opens the store (SQLite under\n" +
			"DIR/.membrane by default, or PostgreSQL for several replicas) and serves:\n\n" +
			"  /v1/…          the REST API (a tenant token on every call)\n" +
			"  /v1/mcp        the same actions as MCP tools (Streamable HTTP, a tenant token)\n" +
			"  /openapi.json  its OpenAPI 3.1 document\n" +
			"  /connect       the page users connect their accounts on\n" +
			"  /healthz       200 while the process is up\n" +
			"  /readyz        200 while the store answers and the server is not stopping\n" +
			"  /              what this server is, with links to the above\n\n" +
			"With --metrics-addr, /metrics serves Prometheus metrics on a listener of its\n" +
			"own, without a token: bind it where only your monitoring reaches.\n\n" +
			"Connections in the error state are retried and OAuth2 tokens refreshed in\n" +
			"the background, and events are delivered to the destinations of\n" +
			"membrane.yaml and of the API (a webhook destination's secretEnv must be\n" +
			"set). On SIGINT or SIGTERM it stops accepting requests and lets those in\n" +
			"flight finish. Logs are JSON lines on stderr, each naming the request\n" +
			"it is about (X-Request-Id, kept in run logs too). Traces are exported\n" +
			"over OTLP when membrane.yaml's tracing or OTEL_EXPORTER_OTLP_ENDPOINT\n" +
			"says where.\n\n" +
			"Settings come from the flags, then DIR/membrane.yaml. The workspace secret\n" +
			"is read from the variable membrane.yaml names (default\n" +
			"MEMBRANE_WORKSPACE_SECRET); on SQLite a development one is generated when\n" +
			"it is unset, and the server then listens on 127.0.0.1 only unless --addr\n" +
			"says otherwise. Secrets at rest are sealed with MEMBRANE_SECRET_KEY.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.Version = version
			s, err := startServer(ctx, cmd, cfg, log)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.ListenAndServe(ctx); err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Dir, "dir", ".", "workspace directory")
	f.StringVar(&cfg.Store, "store", "", "store DSN: sqlite:PATH or postgres://… (default: membrane.yaml's, else DIR/.membrane/membrane.db)")
	f.StringVar(&cfg.Addr, "addr", "", "address to listen on (default "+server.DefaultAddr+", or "+server.DevAddr+" with a generated development secret)")
	f.StringVar(&cfg.PublicURL, "public-url", "", "URL users and OAuth providers reach this server at (default: membrane.yaml's publicUrl)")
	f.BoolVar(&cfg.AllowPrivate, "allow-private", false, "let actions reach private and loopback addresses")
	f.IntVar(&cfg.PollWorkers, "poll-workers", schedule.DefaultWorkers, "how many polls of subscriptions run at once")
	f.DurationVar(&cfg.PollLease, "poll-lease", schedule.DefaultLease, "how long a poll holds its connection before another replica may take over (renewed while it runs)")
	f.DurationVar(&cfg.InboxLease, "inbox-lease", time.Minute, "how long processing webhooks holds them before another replica, or this server restarted, may take them over")
	f.DurationVar(&cfg.DeliveryLease, "delivery-lease", delivery.DefaultLease, "how long a delivery in flight is this server's before another replica, or this server restarted, sends it again (raised to twice the longest destination timeout)")
	f.DurationVar(&cfg.DeliveryPoll, "delivery-poll", delivery.DefaultPoll, "how often to look for deliveries come due or made by other replicas")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "address to serve /metrics on (Prometheus format, no token; e.g. 127.0.0.1:9464); empty: not served")
	f.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// newLogger logs to w, with every attribute whose name says it holds a
// secret replaced: a last line of defence, as nothing should log one.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError("unknown --log-level %q; use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: redactAttr}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError("unknown --log-format %q; use json or text", format)
}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	for _, s := range []string{"secret", "password", "token", "authorization", "apikey", "api_key", "credential", "cookie"} {
		if strings.Contains(k, s) && a.Value.Kind() == slog.KindString && a.Value.String() != "" {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}

// startServer makes the server of serve and mcp: a workspace with errors
// is reported file:line:col on stderr, as validate reports it.
func startServer(ctx context.Context, cmd *cobra.Command, cfg server.Config, log *slog.Logger) (*server.Server, error) {
	s, err := server.New(ctx, cfg, log)
	var le *server.LoadError
	if errors.As(err, &le) {
		_ = diag.Write(cmd.ErrOrStderr(), "text", le.Diagnostics)
		return nil, &exitError{code: exitFail, msg: "the workspace has errors; fix them and start again"}
	}
	if err != nil {
		return nil, &exitError{code: exitFail, msg: err.Error()}
	}
	return s, nil
}
