// Package membrane is Membrane's Go API: load a workspace of connector,
// action and override files, resolve an action through its layers
// (universal, integration, connection) and run it on a connection.
//
//	ws, diags, err := membrane.Load(membrane.Options{}, "./integrations")
//	res, err := ws.Run(ctx, membrane.RunRequest{
//		Connector:  "stripe",
//		Action:     "create-contact",
//		Connection: engine.Connection{ID: "c1", Credentials: map[string]any{"apiKey": key}},
//		Input:      map[string]any{"email": "ada@example.com"},
//	})
//
// Load reads and checks the workspace as `membrane validate` does and
// fails on any error, naming each at file:line:col; diags holds the
// warnings too. A Workspace is safe for concurrent use: each action
// compiles once into a plan (CEL programs, JSON Schemas, HTTP settings),
// cached per action and override content, and runs many times.
//
// Requests leave through the Options' httpx.Client, which by default
// reaches public addresses only and sends a connector's credentials only
// to the hosts its file names. The server (`membrane serve`), with
// tenants, stored connections, OAuth and the REST API, is built from the
// packages under runtime/ on the same Workspace.
//
// Data flows one way: files are read into the file model (package spec),
// resolved through their layers (package layers), and run (runtime/engine
// on runtime/httpx).
package membrane
