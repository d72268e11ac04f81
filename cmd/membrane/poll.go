package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/events"
	"github.com/membrane-dev/membrane/runtime/events/local"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec/diag"
)

func newPollCmd() *cobra.Command {
	var (
		f            actionFlags
		credentials  []string
		params       []string
		stateDir     string
		baseline     bool
		verbose      bool
		allowPrivate bool
	)
	cmd := &cobra.Command{
		Use:   "poll EVENT --connector KEY [--state DIR] [--baseline=false]",
		Short: "Poll one event once and print the changes it detects as JSON lines",
		Long: "poll resolves an event (its key, or the universal event it implements)\n" +
			"through its layers and polls it once on a connection given as flags, as\n" +
			"the server's scheduler does: same requests, cursor, record hashes and\n" +
			"change ids. It prints each detected change on stdout as one JSON line\n" +
			"(the outbox payload: id, type, change, recordId, record, …) and a summary\n" +
			"on stderr.\n\n" +
			"The subscription lives in a throwaway store unless --state DIR keeps it\n" +
			"(DIR/events.db): the next run then continues from its cursor and record\n" +
			"hashes. A first poll takes the baseline and prints nothing, unless the\n" +
			"event says otherwise or --baseline=false makes it print every record it\n" +
			"lists.\n\n" +
			"Requests only go to public addresses unless --allow-private is given (a\n" +
			"local mock or sandbox behind --base-url).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			creds, err := keyValues(credentials, "--credential")
			if err != nil {
				return err
			}
			if err := fromEnvironment(creds); err != nil {
				return err
			}
			prm, err := keyValues(params, "--param")
			if err != nil {
				return err
			}
			ws, overrides, err := f.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := missingFlags(ws.Connectors[f.connector], prm, creds); err != nil {
				return err
			}
			resolved, diags := layers.ResolveEvent(ws, f.connector, args[0], overrides...)
			if diags.HasErrors() {
				_ = diag.Write(cmd.ErrOrStderr(), "text", diags)
				return &exitError{code: exitFail}
			}
			if resolved.Event.Polling == nil {
				return usageError("event %q of connector %q does not poll (it receives webhooks); only a polling event can be polled", resolved.Event.Key, f.connector)
			}
			plan, err := events.NewPlan(resolved)
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			if cmd.Flags().Changed("baseline") {
				plan.Baseline = baseline
			}
			allowPrivate = allowPrivate || ws.Config.AllowPrivate()
			client := httpx.New(httpx.Config{AllowPrivate: allowPrivate, AllowedNetworks: ws.Config.AllowedNetworks()})
			defer client.CloseIdleConnections()

			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			st, err := local.Open(ctx, stateDir)
			if err != nil {
				return &exitError{code: exitUsage, msg: err.Error()}
			}
			defer st.Close()
			conn := engine.Connection{ID: "cli", Name: "membrane poll", Tenant: "local", Parameters: prm, Credentials: creds}
			sub, err := st.Subscribe(ctx, local.Connection{Tenant: conn.Tenant, ID: conn.ID, Connector: f.connector,
				Name: conn.Name, Parameters: prm, Credentials: creds}, plan.Key())
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			poller := &events.Poller{Engine: engine.New(engine.Options{HTTP: client})}
			res, changes, pollErr := st.Poll(ctx, poller, events.PollRequest{
				Subscription: sub, Plan: plan, Connection: &conn,
				Options: engine.RunOptions{Log: verbose},
			})
			if verbose && res != nil && res.Log != nil {
				printLog(cmd.ErrOrStderr(), res.Log.Log)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, c := range changes {
				if err := enc.Encode(c); err != nil {
					return &exitError{code: exitUsage, msg: err.Error()}
				}
			}
			printPollSummary(cmd.ErrOrStderr(), res, sub.State)
			if pollErr != nil {
				if engine.TypeOf(pollErr) == engine.ErrRefused && !allowPrivate {
					pollErr = fmt.Errorf("%w\nthe address is private or loopback; pass --allow-private to reach a local mock or sandbox", pollErr)
				}
				return &exitError{code: exitFail, msg: pollErr.Error()}
			}
			return nil
		},
	}
	f.register(cmd)
	_ = cmd.MarkFlagRequired("connector")
	cmd.Flags().StringArrayVar(&credentials, "credential", nil, "credential name=value (repeatable), e.g. apiKey=env:STRIPE_KEY to read it from the environment")
	cmd.Flags().StringArrayVar(&params, "param", nil, "connection parameter name=value (repeatable)")
	cmd.Flags().StringVar(&stateDir, "state", "", "keep the subscription (cursor, record hashes) in this directory between runs")
	cmd.Flags().BoolVar(&baseline, "baseline", true, "a first poll only records what it sees (false: it prints every record as a change)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print requests and responses (secrets redacted) to stderr")
	cmd.Flags().BoolVar(&allowPrivate, "allow-private", false, "allow requests to private and loopback addresses")
	return cmd
}

// printPollSummary says on stderr what a poll did and where its state is.
func printPollSummary(w io.Writer, res *events.PollResult, state json.RawMessage) {
	if res == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "poll: %s, %s, %s: %d created, %d updated, %d deleted", res.Mode, plural(res.Pages, "page"), plural(res.Records, "record"), res.Created, res.Updated, res.Deleted)
	if res.Baseline {
		b.WriteString(" (the baseline: nothing emitted)")
	}
	if !res.Complete {
		b.WriteString("; incomplete, the state did not move")
	}
	if len(state) > 0 {
		fmt.Fprintf(&b, "; state %s", state)
	}
	fmt.Fprintln(w, b.String())
	for _, e := range res.Errors {
		fmt.Fprintln(w, "poll: skipped", e.String())
	}
	if n := res.Skipped - len(res.Errors); n > 0 {
		fmt.Fprintf(w, "poll: and %s more skipped\n", plural(n, "record"))
	}
}
