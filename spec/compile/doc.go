// Package compile turns the file model of package spec into what runs:
// every `${ … }` template of a connector, an action or an event compiled
// in the place it stands, into Expr (a template with its file position and
// layer, so a failure at run time names where it was written), Mapping (a
// JSON tree of templates: a body, an output) and the compiled forms of
// requests, pagination, error rules and steps (Connector, Auth, Action,
// Event, …), which the runtime's engine executes.
//
// A Scope types the variables each place may use (input, connection,
// credentials, response, …; the Var* names); a name used where it is not
// declared, or a result that does not fit the contract's schema, is a
// load-time error. A connector's URLs compile into a URLPolicy, which
// checks every URL rendered at run time against the hosts the files allow
// (see Expr.EvalURL).
//
// In the flow files → spec → layers → runtime, compile comes after
// spec.Load: Check compiles a whole workspace to report its problems (the
// second step of layers.Load), and layers compiles each action resolved
// through its layers with NewConnector and NewAction. Templates compile
// through spec/expr, which caches them by source for the life of the
// process, so compiling again what did not change is cheap.
package compile
