package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/runtime/reload"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/tenancy"
)

// defaultTokenEnv is where `membrane mcp` finds the tenant token.
const defaultTokenEnv = "MEMBRANE_TOKEN"

func newMCPCmd() *cobra.Command {
	var (
		cfg                 server.Config
		tokenEnv, tenant    string
		watch               bool
		logFormat, logLevel string
	)
	cmd := &cobra.Command{
		Use:   "mcp [--dir DIR] [--store DSN] [--tenant KEY]",
		Short: "Serve one tenant's actions as MCP tools over stdio, for a local AI agent",
		Long: "mcp speaks the Model Context Protocol on stdin and stdout: every action\n" +
			"the tenant can run on its connections is a tool, its input and output\n" +
			"schemas resolved through the tenant's overrides. A call runs as a REST\n" +
			"API run does (rate limits, token refresh, a run log, marked origin mcp).\n" +
			"The tools follow the tenant's connections and, with --watch (the\n" +
			"default), the workspace's files; the client is told when they change.\n\n" +
			"The tenant is the one the tenant token in $" + defaultTokenEnv + " names (--token-env\n" +
			"names another variable; never a flag, so it stays out of process\n" +
			"listings). On a development workspace, whose secret `membrane dev`\n" +
			"generated, --tenant KEY serves a tenant without a token.\n\n" +
			"It opens the store as serve does (DIR/.membrane by default). Logs go to\n" +
			"stderr; stdout carries the protocol alone. Over HTTP, serve answers the\n" +
			"same at /v1/mcp.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			if tenant != "" && !tenancy.ValidTenantKey(tenant) {
				return usageError("--tenant %q is not a valid tenant key: letters, digits and _ . : @ -, starting with a letter or digit, at most %d characters", tenant, tenancy.MaxTenantKeyLen)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.Version = version
			s, err := startServer(ctx, cmd, cfg, log)
			if err != nil {
				return err
			}
			defer s.Close()
			who, err := mcpTenant(s, tokenEnv, tenant)
			if err != nil {
				return err
			}
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan struct{}, 2)
			go func() { _ = s.MCP.Run(runCtx); done <- struct{}{} }()
			if watch {
				r := reload.New(reload.Options{Dir: cfg.Dir, Logger: log, Out: cmd.ErrOrStderr(), Swap: s.Swap})
				go func() { _ = r.Run(runCtx); done <- struct{}{} }()
			} else {
				done <- struct{}{}
			}
			err = s.MCP.Serve(ctx, who, &sdk.StdioTransport{})
			cancel()
			<-done
			<-done
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Dir, "dir", ".", "workspace directory")
	f.StringVar(&cfg.Store, "store", "", "store DSN: sqlite:PATH or postgres://… (default: membrane.yaml's, else DIR/.membrane/membrane.db)")
	f.StringVar(&tokenEnv, "token-env", defaultTokenEnv, "environment variable holding the tenant token")
	f.StringVar(&tenant, "tenant", "", "serve this tenant without a token (a development workspace only)")
	f.BoolVar(&watch, "watch", true, "reload the workspace's files when they change, and tell the client")
	f.BoolVar(&cfg.AllowPrivate, "allow-private", false, "let actions reach private and loopback addresses")
	f.StringVar(&logFormat, "log-format", "text", "log format: json or text")
	f.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	return cmd
}

// mcpTenant is the tenant `membrane mcp` serves: the token's, or
// --tenant's on a development secret. A token and --tenant must agree.
func mcpTenant(s *server.Server, tokenEnv, tenant string) (string, error) {
	tok, ok := os.LookupEnv(tokenEnv)
	if ok && tok != "" {
		c, err := s.Verifier.Verify(tok)
		if err != nil {
			// The reason, never the token.
			return "", usageError("$%s holds no valid tenant token for this workspace (%s); mint one with `membrane token --tenant KEY --dir DIR`", tokenEnv, tenancy.RefusalReason(err))
		}
		if tenant != "" && tenant != c.Tenant {
			return "", usageError("--tenant %s is not the tenant of the token in $%s (%s); leave --tenant out", tenant, tokenEnv, c.Tenant)
		}
		return c.Tenant, nil
	}
	switch {
	case tenant == "":
		return "", usageError("set $%s to a tenant token (`membrane token --tenant KEY`), or on a development workspace name the tenant with --tenant", tokenEnv)
	case !s.DevSecret:
		return "", usageError("--tenant without a token works on a development workspace only (one whose secret was generated); this one has a workspace secret, so set $%s to a tenant token", tokenEnv)
	}
	return tenant, nil
}
