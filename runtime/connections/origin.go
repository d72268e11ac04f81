package connections

import "context"

// Origins of a run, kept in its run log: which front end asked for it.
const (
	OriginAPI = "api" // the REST API, the Go SDK, the CLI: the default
	OriginMCP = "mcp" // a tool call of the MCP server
	// OriginConsole is a run from the console's action form.
	OriginConsole = "console"
	// OriginPoll and OriginWebhook are the runtime's own runs for
	// events: a subscription's poll, and a webhook subscription's
	// requests (subscribe, renew, unsubscribe) and the actions its
	// payloads run.
	OriginPoll    = "poll"
	OriginWebhook = "webhook"
)

type originKey struct{}

// WithOrigin marks the runs made with ctx as coming from origin
// (OriginMCP, say); their run logs keep it.
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

// originOf is the origin WithOrigin gave ctx, else OriginAPI.
func originOf(ctx context.Context) string {
	if o, ok := ctx.Value(originKey{}).(string); ok && o != "" {
		return o
	}
	return OriginAPI
}
