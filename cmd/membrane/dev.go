package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/runtime/delivery"
	"github.com/membrane-dev/membrane/runtime/events/schedule"
	"github.com/membrane-dev/membrane/runtime/reload"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/spec"
)

func newDevCmd() *cobra.Command {
	var (
		cfg                 server.Config
		logFormat, logLevel string
		forwardTo, fwSecret string
	)
	cmd := &cobra.Command{
		Use:   "dev [DIR] [--addr 127.0.0.1:8080] [--store DSN] [--forward-to URL]",
		Short: "Serve the workspace for development, reloading it on every save",
		Long: "dev does what serve does, for one developer: it listens on 127.0.0.1:8080,\n" +
			"keeps its state in SQLite under DIR/.membrane (local state with development\n" +
			"keys: keep it out of version control), lets actions reach private\n" +
			"and loopback addresses (local mocks), and watches DIR. On every save it\n" +
			"reloads what changed and serves the new definitions at once; a file with\n" +
			"errors keeps the last good version serving, and the errors are printed\n" +
			"as validate prints them.\n\n" +
			"Besides serve's routes:\n\n" +
			"  /console/         the console, open to this machine only\n" +
			"  /dev/diagnostics  the latest load's status and diagnostics (JSON)\n" +
			"  /dev/events       the same, streamed on every change (Server-Sent Events)\n\n" +
			"While the files have errors from the start, only the diagnostics and\n" +
			"the console are served; the connectors appear once they load clean.\n\n" +
			"Each event is printed as it is routed to the delivery log (time, type,\n" +
			"tenant, id). --forward-to URL also posts each one to URL, signed as a\n" +
			"destination's webhooks are (Standard Webhooks), like `stripe listen\n" +
			"--forward-to`: the secret is generated for the session and printed once\n" +
			"(or read from the variable --forward-secret-env names), loopback is\n" +
			"allowed for this URL alone, nothing is stored and a failure is not\n" +
			"retried. membrane.yaml's destinations are delivered to as under serve.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				cfg.Dir = args[0]
			}
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			if info, err := os.Stat(cfg.Dir); err != nil || !info.IsDir() {
				return usageError("%s is not a directory", cfg.Dir)
			}
			if n := oldSchemaNote(cfg.Dir); n != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), n)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var fw *forwarder
			if forwardTo != "" {
				secret, generated := delivery.NewSecret(), true
				if fwSecret != "" {
					v, ok := os.LookupEnv(fwSecret)
					if !ok || v == "" {
						return usageError("--forward-secret-env names %s, which is not set; export a whsec_ secret there, or leave the flag out to have one generated", fwSecret)
					}
					secret, generated = v, false
				}
				if fw, err = newForwarder(forwardTo, secret); err != nil {
					return usageError("%v", err)
				}
				if generated {
					fmt.Fprintf(cmd.ErrOrStderr(), "forwarding events to %s, signed with %s\n(the secret is printed once: verify with it; --forward-secret-env keeps one across sessions)\n", forwardTo, secret)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "forwarding events to %s, signed with the secret in %s\n", forwardTo, fwSecret)
				}
			}
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			if err := runDevForwarding(ctx, cfg, ln, log, cmd.ErrOrStderr(), fw); err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			return nil
		},
	}
	cfg.Dir = "."
	cfg.AllowPrivate = true
	f := cmd.Flags()
	f.StringVar(&cfg.Store, "store", "", "store DSN: sqlite:PATH or postgres://… (default: membrane.yaml's, else DIR/.membrane/membrane.db)")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&cfg.PublicURL, "public-url", "", "URL users and OAuth providers reach this server at (default: membrane.yaml's publicUrl)")
	f.IntVar(&cfg.PollWorkers, "poll-workers", schedule.DefaultWorkers, "how many polls of subscriptions run at once")
	f.DurationVar(&cfg.PollLease, "poll-lease", schedule.DefaultLease, "how long a poll holds its connection before another replica may take over (renewed while it runs)")
	f.DurationVar(&cfg.DeliveryPoll, "delivery-poll", delivery.DefaultPoll, "how often to look for deliveries come due or made by other replicas")
	f.StringVar(&forwardTo, "forward-to", "", "post each event to this URL, signed (e.g. http://localhost:3000/hooks)")
	f.StringVar(&fwSecret, "forward-secret-env", "", "the variable holding the whsec_ secret --forward-to signs with (default: one generated and printed)")
	f.StringVar(&logFormat, "log-format", "text", "log format: json or text")
	f.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	return cmd
}

// runDev serves the workspace of cfg.Dir on ln, reloading it on every
// change, until ctx ends. Diagnostics and reload lines go to out.
func runDev(ctx context.Context, cfg server.Config, ln net.Listener, log *slog.Logger, out io.Writer) error {
	return runDevForwarding(ctx, cfg, ln, log, out, nil)
}

// runDevForwarding is runDev that also prints each routed event, and
// forwards it when fw is set.
func runDevForwarding(ctx context.Context, cfg server.Config, ln net.Listener, log *slog.Logger, out io.Writer, fw *forwarder) error {
	defer ln.Close()
	cfg.Addr = ln.Addr().String() // the public URL takes its port
	var (
		mu     sync.Mutex
		srv    *server.Server
		latest *spec.Workspace
	)
	r := reload.New(reload.Options{Dir: cfg.Dir, Logger: log, Out: out, Swap: func(ws *spec.Workspace) {
		mu.Lock()
		defer mu.Unlock()
		latest = ws
		if srv != nil {
			srv.Swap(ws)
		}
	}})
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ran := make(chan error, 1)
	go func() { ran <- r.Run(runCtx) }()
	cfg.OpenConsole = true
	cfg.Diagnostics = r // its Status is the console's

	first, loaded := firstLoad(r.Subscribe(runCtx))
	if !loaded {
		stopRun()
		return <-ran
	}
	mu.Lock()
	if first.OK && latest != nil {
		cfg.Spec = latest
	} else {
		// Serve nothing but the diagnostics and the console until the
		// files load clean; the reloader swaps the workspace in then.
		wc, _ := server.ReadWorkspaceConfig(cfg.Dir)
		cfg.Spec = spec.Empty(wc)
	}
	mu.Unlock()
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		stopRun()
		return errors.Join(err, <-ran)
	}
	defer s.Close()
	mu.Lock()
	srv = s
	if latest != nil && latest != cfg.Spec {
		s.Swap(latest) // loaded clean since
	}
	mu.Unlock()
	s.Handle("/dev/", r.Handler())
	// Events are printed from the log's end now: what was routed before
	// this session is not news, what is routed once it serves is.
	after, err := logEnd(ctx, s.Store.Deliveries())
	if err != nil {
		stopRun()
		return errors.Join(err, <-ran)
	}
	fmt.Fprintf(out, "serving http://%s (console: /console/, diagnostics: /dev/diagnostics, events: /dev/events)\n", ln.Addr())

	printCtx, stopPrint := context.WithCancel(ctx)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		if err := printFrom(printCtx, s.Store.Deliveries(), after, fw, out); err != nil {
			log.Warn("printing routed events stopped", "error", err)
		}
	}()
	defer func() { stopPrint(); <-printed }()

	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	select {
	case err = <-served:
		stopRun()
		return errors.Join(err, <-ran)
	case err = <-ran:
		// The event streams have ended with the reloader; let Serve
		// finish its graceful shutdown.
		return errors.Join(err, <-served)
	}
}

// firstLoad waits for the reloader's first load, clean or not; false
// when it stopped first.
func firstLoad(statuses <-chan reload.Status) (reload.Status, bool) {
	for st := range statuses {
		if !st.LoadedAt.IsZero() {
			return st, true
		}
	}
	return reload.Status{}, false
}
