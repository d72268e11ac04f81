package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/membrane-dev/membrane"
	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/connections"
	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/runtime/server"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/suggest"
	"github.com/membrane-dev/membrane/spec/tree"
)

// actionFlags are shared by run and explain.
type actionFlags struct {
	connector string
	dir       string
	overrides []string
	baseURL   string
	servers   []string // NAME=URL
}

func (f *actionFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.connector, "connector", "", "connector key (required)")
	cmd.Flags().StringVar(&f.dir, "dir", ".", "workspace directory")
	cmd.Flags().StringArrayVar(&f.overrides, "override", nil, "ConnectionOverride file to apply (repeatable, in order)")
	cmd.Flags().StringVar(&f.baseURL, "base-url", "", "use this base URL instead of the connector's (a sandbox or a mock), and for its servers too unless --server names one")
	cmd.Flags().StringArrayVar(&f.servers, "server", nil, "NAME=URL: use this URL for the connector's server NAME (repeatable)")
}

// load reads the workspace and the overrides the flags name.
func (f *actionFlags) load(stderr io.Writer) (*spec.Workspace, []*spec.ConnectionOverride, error) {
	ws, diags := layers.Load(f.dir)
	if err := ioTrouble(diags); err != nil {
		return nil, nil, err
	}
	if ws.Connectors[f.connector] == nil && !diags.HasErrors() {
		return nil, nil, usageError("unknown connector %q%s", f.connector, connectorHint(ws, f.connector, f.dir))
	}
	var overrides []*spec.ConnectionOverride
	for _, path := range f.overrides {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, usageError("cannot read override: %v", err)
		}
		els, d := spec.LoadFile(displayPathOf(path), data)
		diags = append(diags, d...)
		for _, el := range els {
			o, ok := el.(*spec.ConnectionOverride)
			if !ok {
				diags.Errorf(diag.Pos{File: path}, "wrong-kind", "--override takes ConnectionOverride files")
				continue
			}
			if o.Connector != f.connector {
				diags.Errorf(o.Source.Pos, "unknown-reference", "this override is for connector %q, not %q", o.Connector, f.connector)
				continue
			}
			overrides = append(overrides, o)
		}
	}
	if o, err := f.urlOverride(ws); err != nil {
		return nil, nil, err
	} else if o != nil {
		overrides = append(overrides, o)
	}
	if diags.HasErrors() {
		_ = diag.Write(stderr, "text", diags)
		return nil, nil, &exitError{code: exitFail, msg: "the workspace has errors; run 'membrane validate' for the full list"}
	}
	return ws, overrides, nil
}

// urlOverride is the connection layer --base-url and --server make, or
// nil. A mock answers every path on one origin, so --base-url moves the
// connector's servers too, unless --server gives one its own URL.
func (f *actionFlags) urlOverride(ws *spec.Workspace) (*spec.ConnectionOverride, error) {
	if f.baseURL == "" && len(f.servers) == 0 {
		return nil, nil
	}
	c := ws.Connectors[f.connector]
	urls := map[string]string{}
	for _, kv := range f.servers {
		name, u, ok := strings.Cut(kv, "=")
		if !ok || name == "" || u == "" {
			return nil, usageError("--server %q: write NAME=URL, e.g. --server upload=http://127.0.0.1:4010", kv)
		}
		if _, declared := c.Servers[name]; c != nil && !declared {
			names := slices.Sorted(maps.Keys(c.Servers))
			if len(names) == 0 {
				return nil, usageError("--server %s: connector %q declares no servers", name, f.connector)
			}
			return nil, usageError("--server %s: connector %q has no such server; its servers are %s%s", name, f.connector, strings.Join(names, ", "), suggest.DidYouMean(name, names))
		}
		urls[name] = u
	}
	if f.baseURL != "" && c != nil {
		for name := range c.Servers {
			if _, given := urls[name]; !given {
				urls[name] = f.baseURL
			}
		}
	}
	pos := diag.Pos{File: "--base-url"}
	patch := &tree.Value{Kind: tree.Map}
	if f.baseURL != "" {
		patch.Set("baseUrl", pos, &tree.Value{Kind: tree.String, Str: f.baseURL, Pos: pos})
	}
	if len(urls) > 0 {
		servers := &tree.Value{Kind: tree.Map}
		for _, name := range slices.Sorted(maps.Keys(urls)) {
			p := diag.Pos{File: "--server"}
			servers.Set(name, p, &tree.Value{Kind: tree.String, Str: urls[name], Pos: p})
		}
		patch.Set("servers", pos, servers)
	}
	return &spec.ConnectionOverride{
		Source:         spec.Source{File: "--base-url", Pos: pos},
		Kind:           spec.KindConnectionOverride,
		Connector:      f.connector,
		ConnectorPatch: patch,
	}, nil
}

// connectorHint ends an unknown-connector message with the nearest key,
// or the keys the workspace has.
func connectorHint(ws *spec.Workspace, key, dir string) string {
	keys := slices.Sorted(maps.Keys(ws.Connectors))
	if s := suggest.DidYouMean(key, keys); s != "" {
		return s
	}
	if len(keys) == 0 {
		return fmt.Sprintf("; %s holds no connector", dir)
	}
	return fmt.Sprintf("; %s has %s", dir, strings.Join(keys, ", "))
}

func ioTrouble(diags diag.List) error {
	for _, d := range diags {
		if d.Rule == "io" {
			return usageError("%s", d.String())
		}
	}
	return nil
}

func displayPathOf(p string) string { return strings.TrimPrefix(p, "./") }

func newRunCmd() *cobra.Command {
	var (
		f            actionFlags
		credentials  []string
		params       []string
		input        string
		verbose      bool
		allowPrivate bool
	)
	cmd := &cobra.Command{
		Use:   "run ACTION --connector KEY --input JSON|@FILE",
		Short: "Run one action locally and print its output",
		Long: "run resolves an action (its key, or the universal action it implements)\n" +
			"through its layers and runs it once, with credentials and parameters given\n" +
			"as flags. It prints the output as JSON. With -v it prints each request and\n" +
			"response to stderr, secrets redacted.\n\n" +
			"Requests only go to public addresses unless --allow-private is given (a\n" +
			"local mock or sandbox behind --base-url).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := readInput(input, cmd.InOrStdin())
			if err != nil {
				return usageError("--input: %v", err)
			}
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
			// The workspace's membrane.yaml may open private networks too.
			allowPrivate = allowPrivate || ws.Config.AllowPrivate()
			rt := membrane.New(membrane.Options{HTTP: httpx.New(httpx.Config{
				AllowPrivate:    allowPrivate,
				AllowedNetworks: ws.Config.AllowedNetworks(),
			})}, ws)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			res, err := rt.Run(ctx, membrane.RunRequest{
				Connector: f.connector,
				Action:    args[0],
				Connection: engine.Connection{
					ID: "cli", Name: "membrane run", Tenant: "local",
					Parameters: prm, Credentials: creds,
				},
				Overrides: overrides,
				Input:     in,
				Options:   engine.RunOptions{Log: verbose},
			})
			if verbose && res != nil {
				printLog(cmd.ErrOrStderr(), res.Log)
			}
			if err != nil {
				if engine.TypeOf(err) == engine.ErrRefused && !allowPrivate {
					err = fmt.Errorf("%w\nthe address is private or loopback; pass --allow-private to reach a local mock or sandbox", err)
				}
				return &exitError{code: exitFail, msg: err.Error()}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(res.Output)
		},
	}
	f.register(cmd)
	_ = cmd.MarkFlagRequired("connector")
	cmd.Flags().StringArrayVar(&credentials, "credential", nil, "credential name=value (repeatable), e.g. apiKey=sk_test_123, or apiKey=env:STRIPE_KEY to read it from the environment")
	cmd.Flags().StringArrayVar(&params, "param", nil, "connection parameter name=value (repeatable)")
	cmd.Flags().StringVar(&input, "input", "{}", "input as JSON, @FILE, or @- for stdin")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print requests and responses (secrets redacted) to stderr")
	cmd.Flags().BoolVar(&allowPrivate, "allow-private", false, "allow requests to private and loopback addresses")
	return cmd
}

// missingFlags reports the connection parameters and credentials a
// connector requires that the command line does not give, before anything
// is sent.
func missingFlags(c *spec.Connector, params, creds map[string]any) error {
	var missing []string
	if !c.Parameters.IsZero() {
		for _, k := range requiredNames(c.Parameters.Value) {
			if _, ok := params[k]; !ok {
				missing = append(missing, "--param "+k+"=VALUE")
			}
		}
	}
	if c.Auth != nil && c.Auth.Type != spec.AuthNone {
		for _, k := range requiredNames(spec.CredentialsSchema(c.Auth)) {
			if _, ok := creds[k]; !ok {
				missing = append(missing, "--credential "+k+"=VALUE")
			}
		}
	}
	if len(missing) > 0 {
		return usageError("connector %q needs %s", c.Key, strings.Join(missing, " and "))
	}
	return nil
}

func requiredNames(schema *tree.Value) []string {
	var names []string
	if r := schema.Get("required"); r != nil && r.Kind == tree.List {
		for _, it := range r.Items {
			if it.Kind == tree.String {
				names = append(names, it.Str)
			}
		}
	}
	return names
}

func readInput(s string, stdin io.Reader) (any, error) {
	var data []byte
	switch {
	case s == "@-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, err
		}
		data = b
	case strings.HasPrefix(s, "@"):
		b, err := os.ReadFile(s[1:])
		if err != nil {
			return nil, err
		}
		data = b
	default:
		data = []byte(s)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	return v, nil
}

func keyValues(list []string, flag string) (map[string]any, error) {
	m := map[string]any{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError("%s takes name=value, got %q", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// fromEnvironment replaces credential values written env:NAME by the
// variable's value, so a secret need not be typed on the command line
// (where shell history and process listings keep it).
func fromEnvironment(creds map[string]any) error {
	for k, v := range creds {
		name, ok := strings.CutPrefix(v.(string), "env:")
		if !ok {
			continue
		}
		val, set := os.LookupEnv(name)
		if !set || val == "" {
			return usageError("--credential %s=env:%s: environment variable %s is not set", k, name, name)
		}
		creds[k] = val
	}
	return nil
}

func printLog(w io.Writer, log []engine.Exchange) {
	for _, x := range log {
		fmt.Fprintf(w, "> %s %s\n", x.Method, x.URL)
		for _, k := range slices.Sorted(maps.Keys(x.RequestHeaders)) {
			fmt.Fprintf(w, "> %s: %s\n", k, strings.Join(x.RequestHeaders[k], ", "))
		}
		if x.RequestBody != "" {
			fmt.Fprintf(w, ">\n> %s\n", x.RequestBody)
		}
		if x.Error != "" {
			fmt.Fprintf(w, "! %s (%s)\n\n", x.Error, x.Duration)
			continue
		}
		fmt.Fprintf(w, "< %d (%s, %d attempt(s))\n", x.Status, x.Duration, x.Attempts)
		for _, k := range slices.Sorted(maps.Keys(x.ResponseHeaders)) {
			fmt.Fprintf(w, "< %s: %s\n", k, strings.Join(x.ResponseHeaders[k], ", "))
		}
		if x.ResponseBody != "" {
			fmt.Fprintf(w, "<\n< %s\n", x.ResponseBody)
		}
		fmt.Fprintln(w)
	}
}

func newExplainCmd() *cobra.Command {
	var (
		f                     actionFlags
		tenant, connID, store string
		event                 string
	)
	cmd := &cobra.Command{
		Use:   "explain ACTION --connector KEY [--override FILE]... | explain --event KEY --connector KEY [--override FILE]... | explain ACTION|--event KEY --tenant KEY --connection ID",
		Short: "Print an action or an event merged through its layers, with each field's source",
		Long: "explain resolves an action through the universal, integration and\n" +
			"connection layers and prints the merged definition as YAML, each field\n" +
			"annotated with the layer and file:line it came from.\n\n" +
			"With --event KEY (the event's key, or the universal event it implements)\n" +
			"it explains that event instead: its record schema from the universal\n" +
			"layer, the connector's Event file, then the overrides' events patches.\n\n" +
			"With --tenant and --connection it explains the action (or the event) as that stored\n" +
			"connection runs it: the workspace's override files, then the overrides\n" +
			"stored through the API (named \"stored override CONNECTOR/ID rev N\"),\n" +
			"read from the workspace's store (or --store).",
		Args: func(cmd *cobra.Command, args []string) error {
			if event != "" {
				if len(args) > 0 {
					return fmt.Errorf("--event names what to explain; drop the argument %q", args[0])
				}
				return nil
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if connID != "" || tenant != "" {
				name := event
				if name == "" {
					name = args[0]
				}
				return explainStored(cmd, f.dir, store, tenant, connID, name, event != "")
			}
			if f.connector == "" {
				return usageError("--connector is required (or --tenant and --connection for a stored connection)")
			}
			ws, overrides, err := f.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var connectorDoc, doc *tree.Value
			var diags diag.List
			if event != "" {
				r, d := layers.ResolveEvent(ws, f.connector, event, overrides...)
				if r != nil {
					connectorDoc, doc = r.ConnectorDoc, r.Doc
				}
				diags = d
			} else {
				r, d := layers.ResolveAction(ws, f.connector, args[0], overrides...)
				if r != nil {
					connectorDoc, doc = r.ConnectorDoc, r.Doc
				}
				diags = d
			}
			if diags.HasErrors() {
				_ = diag.Write(cmd.ErrOrStderr(), "text", diags)
				return &exitError{code: exitFail}
			}
			out := cmd.OutOrStdout()
			if len(overrides) > 0 && slicesContainPatch(overrides) {
				fmt.Fprint(out, layers.Explain(connectorDoc))
				fmt.Fprintln(out, "---")
			}
			fmt.Fprint(out, layers.Explain(doc))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&event, "event", "", "explain this event (its key or the universal event it implements) instead of an action")
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant of the stored connection to explain the action for")
	cmd.Flags().StringVar(&connID, "connection", "", "id of the stored connection to explain the action for")
	cmd.Flags().StringVar(&store, "store", "", "store DSN (default: membrane.yaml's, else DIR/.membrane/membrane.db)")
	return cmd
}

// explainStored explains an action as a stored connection runs it, with
// the overrides stored through the API.
func explainStored(cmd *cobra.Command, dir, dsn, tenant, connID, name string, isEvent bool) error {
	if tenant == "" || connID == "" {
		return usageError("--tenant and --connection go together")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rt, diags, err := membrane.Load(membrane.Options{}, dir)
	if err != nil {
		_ = diag.Write(cmd.ErrOrStderr(), "text", diags)
		return &exitError{code: exitFail, msg: "the workspace has errors"}
	}
	log, _ := newLogger(cmd.ErrOrStderr(), "text", "warn")
	st, err := server.OpenStoreToRead(ctx, server.Config{Dir: dir, Store: dsn}, log)
	if err != nil {
		return &exitError{code: exitFail, msg: err.Error()}
	}
	defer st.Close()
	svc := connections.New(connections.Options{Store: st, Workspace: rt, Logger: log})
	explain := svc.Explain
	if isEvent {
		explain = svc.ExplainEvent
	}
	text, err := explain(ctx, tenant, connID, name)
	if err != nil {
		if errors.Is(err, connections.ErrNotFound) {
			err = fmt.Errorf("tenant %q has no connection %q in this store", tenant, connID)
		}
		return &exitError{code: exitFail, msg: err.Error()}
	}
	fmt.Fprint(cmd.OutOrStdout(), text)
	return nil
}

func slicesContainPatch(os []*spec.ConnectionOverride) bool {
	for _, o := range os {
		if o.ConnectorPatch != nil {
			return true
		}
	}
	return false
}
