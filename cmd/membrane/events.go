package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/runtime/store"
)

// The events commands work on the workspace's store directly, as
// rotate-keys does: they need the store's DSN and key, not a running
// server nor an admin token. A server on the same store sends what a
// replay made pending at its next claim.
func newEventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Inspect and replay the delivery of events to your backend",
		Long: "events works on the store of the workspace in --dir (as membrane.yaml\n" +
			"names it, or --store): it lists the deliveries that went dead after\n" +
			"their last retry, and makes deliveries pending again. A server on the\n" +
			"same store sends them at its next claim.",
	}
	cmd.AddCommand(newEventsReplayCmd(), newEventsDeadCmd())
	return cmd
}

// storeFlags are the flags that find the workspace's store.
func storeFlags(cmd *cobra.Command, cfg *server.Config) {
	cmd.Flags().StringVar(&cfg.Dir, "dir", ".", "workspace directory (its membrane.yaml names the store)")
	cmd.Flags().StringVar(&cfg.Store, "store", "", "store DSN (default: membrane.yaml's, else DIR/.membrane/membrane.db)")
}

func newEventsReplayCmd() *cobra.Command {
	var (
		cfg                     server.Config
		id, destination, tenant string
		from, to                string
	)
	cmd := &cobra.Command{
		Use:   "replay (--id EVENT [--destination ID] | --destination ID [--from T] [--to T])",
		Short: "Deliver events again: one by id, or a destination's dead deliveries in a time range",
		Long: "replay makes deliveries pending again, due now, with their attempts\n" +
			"counted from zero; the event keeps its id, so the webhook-id a backend\n" +
			"de-duplicates on is the same.\n\n" +
			"  --id EVENT                     every delivery of the event, dead or delivered\n" +
			"  --id EVENT --destination ID    its delivery to that destination only\n" +
			"  --destination ID [--from --to] the destination's dead deliveries of events\n" +
			"                                 detected in the range (default: all of them)\n\n" +
			"A destination is named by its id: file:NAME for one of membrane.yaml,\n" +
			"dst_… for one made through the API. --from and --to take an RFC 3339\n" +
			"time (2026-01-02T15:04:05Z) or a duration meaning that long ago (24h).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := store.ReplayFilter{EventID: id, Destination: destination, Tenant: tenant}
			if id == "" && destination == "" {
				return usageError("give --id EVENT, or --destination ID (with --from and --to to bound the range)")
			}
			if id != "" && (from != "" || to != "") {
				return usageError("--from and --to select dead deliveries by time; with --id, give --destination at most")
			}
			now := time.Now()
			var err error
			if f.From, err = parseWhen(from, "--from", now); err != nil {
				return err
			}
			if f.To, err = parseWhen(to, "--to", now); err != nil {
				return err
			}
			if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
				return usageError("--to (%s) is before --from (%s)", f.To.Format(time.RFC3339), f.From.Format(time.RFC3339))
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			log, _ := newLogger(cmd.ErrOrStderr(), "text", "warn")
			st, err := server.OpenStore(ctx, cfg, log)
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			defer st.Close()
			if destination != "" {
				if _, err := st.Destinations().Get(ctx, destination); errors.Is(err, store.ErrNotFound) {
					return &exitError{code: exitFail, msg: fmt.Sprintf("no destination %q in this store; a membrane.yaml destination is file:NAME (the server syncs them at start), an API one dst_… (GET /v1/destinations lists them)", destination)}
				} else if err != nil {
					return &exitError{code: exitFail, msg: err.Error()}
				}
			}
			n, err := st.Deliveries().Replay(ctx, f)
			if errors.Is(err, store.ErrNotFound) {
				what := "event " + id + " has no delivery"
				if destination != "" {
					what += " to " + destination
				}
				return &exitError{code: exitFail, msg: what + " in this store: it was never routed to a destination, or its log entry was pruned; `membrane events dead` lists what can be replayed"}
			}
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			if n == 0 && id != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "replayed nothing: the deliveries of %s are pending already; a server on this store sends them at their next attempt\n", id)
				return nil
			}
			if n == 0 {
				return &exitError{code: exitFail, msg: fmt.Sprintf("no dead delivery of %s%s: nothing replayed", destination, rangeText(f.From, f.To))}
			}
			what, them := fmt.Sprintf("%d deliveries", n), "them"
			if n == 1 {
				what, them = "1 delivery", "it"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %s; a server on this store sends %s at its next claim\n", what, them)
			return nil
		},
	}
	storeFlags(cmd, &cfg)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "the event's id (its webhook-id)")
	f.StringVar(&destination, "destination", "", "a destination id: file:NAME or dst_…")
	f.StringVar(&tenant, "tenant", "", "only this tenant's deliveries")
	f.StringVar(&from, "from", "", "replay events detected at or after this time (RFC 3339, or a duration ago such as 24h)")
	f.StringVar(&to, "to", "", "replay events detected before this time (RFC 3339, or a duration ago)")
	return cmd
}

func newEventsDeadCmd() *cobra.Command {
	var (
		cfg                 server.Config
		destination, tenant string
		from, to            string
		limit               int
		asJSON              bool
	)
	cmd := &cobra.Command{
		Use:   "dead [--destination ID] [--tenant KEY] [--from T] [--to T]",
		Short: "List the deliveries that went dead after their last retry",
		Long: "dead lists the deliveries that failed every attempt of the retry\n" +
			"schedule (or met a 410 Gone), oldest first: the event, its destination,\n" +
			"tenant and type, the attempts made, and the last answer or error.\n" +
			"Replay them with `membrane events replay`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			f := store.DeliveryFilter{Status: store.Dead, Destination: destination, Tenant: tenant}
			var err error
			if f.From, err = parseWhen(from, "--from", now); err != nil {
				return err
			}
			if f.To, err = parseWhen(to, "--to", now); err != nil {
				return err
			}
			if limit <= 0 {
				return usageError("--limit must be at least 1")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			log, _ := newLogger(cmd.ErrOrStderr(), "text", "warn")
			st, err := server.OpenStore(ctx, cfg, log)
			if err != nil {
				return &exitError{code: exitFail, msg: err.Error()}
			}
			defer st.Close()
			var dead []*store.DeliveryState
			for len(dead) < limit {
				f.Limit = min(limit-len(dead), 500)
				page, err := st.Deliveries().List(ctx, f)
				if err != nil {
					return &exitError{code: exitFail, msg: err.Error()}
				}
				dead = append(dead, page.Items...)
				if page.Next == "" {
					break
				}
				f.Cursor = page.Next
			}
			if asJSON {
				return writeDeadJSON(cmd.OutOrStdout(), dead)
			}
			writeDeadTable(cmd.OutOrStdout(), dead)
			if len(dead) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no dead delivery")
			}
			return nil
		},
	}
	storeFlags(cmd, &cfg)
	f := cmd.Flags()
	f.StringVar(&destination, "destination", "", "only this destination's (file:NAME or dst_…)")
	f.StringVar(&tenant, "tenant", "", "only this tenant's")
	f.StringVar(&from, "from", "", "events detected at or after this time (RFC 3339, or a duration ago such as 24h)")
	f.StringVar(&to, "to", "", "events detected before this time (RFC 3339, or a duration ago)")
	f.IntVar(&limit, "limit", 100, "at most this many")
	f.BoolVar(&asJSON, "json", false, "one JSON object a line instead of a table")
	return cmd
}

func writeDeadTable(w io.Writer, dead []*store.DeliveryState) {
	if len(dead) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tDESTINATION\tTENANT\tTYPE\tATTEMPTS\tLAST")
	for _, d := range dead {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.EventID, d.Destination, d.Tenant, d.Type, d.Attempts, lastAnswer(d))
	}
	tw.Flush()
}

// lastAnswer is the last attempt's status and error, on one line.
func lastAnswer(d *store.DeliveryState) string {
	var parts []string
	if d.LastStatus != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", d.LastStatus))
	}
	if d.LastError != "" {
		parts = append(parts, strings.Join(strings.Fields(d.LastError), " "))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ": ")
}

func writeDeadJSON(w io.Writer, dead []*store.DeliveryState) error {
	enc := json.NewEncoder(w)
	for _, d := range dead {
		if err := enc.Encode(map[string]any{
			"eventId": d.EventID, "destination": d.Destination, "tenant": d.Tenant, "type": d.Type,
			"attempts": d.Attempts, "lastStatus": d.LastStatus, "lastError": d.LastError,
			"createdAt": d.CreatedAt.UTC(),
		}); err != nil {
			return err
		}
	}
	return nil
}

// parseWhen reads --from/--to: an RFC 3339 time, or a duration meaning
// that long before now; "" is no bound.
func parseWhen(s, flag string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError("%s %q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration ago (24h)", flag, s)
}

func rangeText(from, to time.Time) string {
	switch {
	case !from.IsZero() && !to.IsZero():
		return " from " + from.UTC().Format(time.RFC3339) + " to " + to.UTC().Format(time.RFC3339)
	case !from.IsZero():
		return " since " + from.UTC().Format(time.RFC3339)
	case !to.IsZero():
		return " before " + to.UTC().Format(time.RFC3339)
	}
	return ""
}
