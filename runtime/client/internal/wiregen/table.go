package wiregen

// table lists the client's wire types, in the order types.go declares
// them, each with the server type it copies. Docs written here are the
// client's where the source's speak of the server.
var table = []Type{
	{Name: "Page", From: "runtime/api.list",
		Doc: "Page is one page of a listing; Next is the cursor of the following one,\nempty on the last."},
	{Name: "Connection", From: "runtime/store.Connection",
		Doc: "Connection is a tenant's authenticated link to an app. The API never\nreturns its credentials.",
		Fields: map[string]Field{
			"ID":      {Doc: "-"},
			"State":   {Doc: "State is connected, error (retried by the server) or disconnected\n(reconnect it)."},
			"Version": {Doc: "Version counts the changes of the connection, starting at 1."},
		}},
	{Name: "CreateConnectionRequest", From: "runtime/api.createRequest",
		Doc: "CreateConnectionRequest connects with credentials.",
		Fields: map[string]Field{
			"Name":        {Tag: "name,omitempty"},
			"Parameters":  {Tag: "parameters,omitempty"},
			"Credentials": {Tag: "credentials,omitempty"},
		},
		Extra: []Extra{{Name: "IdempotencyKey", Type: "string", Tag: "-",
			Doc: "IdempotencyKey, when set, is sent as the Idempotency-Key header: a\nretry of the same request with the same key gets the first answer\nand creates nothing more. Make one with NewIdempotencyKey per\nlogical request, and reuse it for its retries."}}},
	{Name: "TestResult", From: "runtime/api.testResponse",
		Doc: "TestResult is the outcome of a connection's test request."},
	{Name: "Exchange", From: "runtime/engine.Exchange", OwnJSON: true,
		Doc:    "Exchange is one request to the upstream API and its answer, redacted.",
		Fields: map[string]Field{"Duration": {Keep: true}}},
	{Name: "AuthorizeRequest", From: "runtime/api.authorizeRequest",
		Doc: "AuthorizeRequest starts an OAuth consent.",
		Fields: map[string]Field{
			"ConnectionID": {Tag: "connectionId,omitempty", Doc: "ConnectionID re-authorises a connection; empty connects a new one."},
			"Parameters":   {Tag: "parameters,omitempty"},
			"ReturnURL":    {Tag: "returnUrl,omitempty", Doc: "ReturnURL is where the user lands once connected."},
		}},
	{Name: "ConnectorInfo", From: "runtime/connections.ConnectorInfo"},
	{Name: "ActionSummary", From: "runtime/connections.ActionSummary"},
	{Name: "ActionInfo", From: "runtime/connections.ActionInfo"},
	{Name: "PageInfo", From: "runtime/engine.PageInfo"},
	{Name: "RunResult", From: "runtime/api.runResponse",
		Doc:    "RunResult is a run's output.",
		Fields: map[string]Field{"Output": {Type: "json.RawMessage"}}},
	{Name: "Override", From: "runtime/api.putOverrideBody",
		Doc: "Override is a stored connection override.",
		Fields: map[string]Field{
			"Document": {Doc: "Document is the ConnectionOverride exactly as it was stored."},
			"Warnings": {Tag: "warnings,omitempty", Doc: "Warnings are the stored document's, on a PUT."},
		}},
	{Name: "CheckResult", From: "runtime/api.checkBody",
		Doc: "CheckResult is the verdict on an override document."},
	{Name: "Subscription", From: "runtime/api.subscriptionBody",
		Doc: "Subscription is a connection's subscription to one event of its\nconnector. WebhookURL is secret: it is the subscription's own.",
		Fields: map[string]Field{
			"Interval": {Doc: "Interval is the time between polls of a polled event, such as \"5m\"."},
		}},
	{Name: "SubscribeRequest", From: "runtime/api.subscribeRequest",
		Doc: "SubscribeRequest subscribes a connection to an event.",
		Fields: map[string]Field{
			"Interval": {Tag: "interval,omitempty", Doc: "Interval between polls, a duration from \"1m\" to \"24h\"; the\nevent's own when empty."},
		}},
	{Name: "Destination", From: "runtime/api.destinationBody",
		Doc: "Destination is where events are delivered: a webhook endpoint or a NATS\nJetStream subject. Its secret is shown only by CreateDestination and\nRotateDestinationSecret."},
	{Name: "DestinationWithSecret", From: "runtime/api.destinationWithSecret",
		Doc: "DestinationWithSecret is a destination just created or rotated, with\nits signing secret."},
	{Name: "CreateDestinationRequest", From: "runtime/api.destinationRequest",
		Doc: "CreateDestinationRequest makes a webhook or NATS destination.",
		Fields: map[string]Field{
			"Kind":        {Tag: "kind,omitempty", Doc: "Kind is \"webhook\" (when empty) or \"nats\"."},
			"Subject":     {Tag: "subject,omitempty"},
			"Events":      {Tag: "events,omitempty", Doc: "Events, Connectors and Tenants filter what is delivered; empty is all."},
			"Connectors":  {Tag: "connectors,omitempty"},
			"Tenants":     {Tag: "tenants,omitempty"},
			"Concurrency": {Tag: "concurrency,omitempty"},
			"Timeout":     {Tag: "timeout,omitempty", Doc: "Timeout is the per-attempt timeout, such as \"10s\"."},
		}},
	{Name: "DestinationPatch", From: "runtime/api.destinationPatch",
		Doc: "DestinationPatch changes a destination: each non-nil member replaces\nthe destination's.",
		Fields: map[string]Field{
			"Name": {Tag: "name,omitempty"}, "URL": {Tag: "url,omitempty"}, "Subject": {Tag: "subject,omitempty"},
			"Events": {Type: "*[]string", Tag: "events,omitempty"}, "Connectors": {Type: "*[]string", Tag: "connectors,omitempty"},
			"Tenants": {Type: "*[]string", Tag: "tenants,omitempty"}, "Concurrency": {Tag: "concurrency,omitempty"}, "Timeout": {Tag: "timeout,omitempty"},
		}},
	{Name: "Delivery", From: "runtime/api.deliveryBody"},
	{Name: "Attempt", From: "runtime/api.attemptBody"},
	{Name: "ReplayRequest", From: "runtime/api.replayRequest",
		Doc: "ReplayRequest names what to deliver again: EventID (and Destination for\none of its deliveries), or Destination, From and To for the\ndestination's dead deliveries of events created in that range.",
		Fields: map[string]Field{
			"EventID":     {Tag: "eventId,omitempty"},
			"Destination": {Tag: "destination,omitempty"},
			"From":        {Tag: "from,omitzero"},
			"To":          {Tag: "to,omitzero"},
		}},
	{Name: "Event", From: "runtime/api.eventItem",
		Doc:    "Event is one event of the log, as every delivery path carries it, with\nits cursor.",
		Fields: map[string]Field{"Data": {Doc: "Data is the event's payload."}}},
	{Name: "EventPage", From: "runtime/api.eventPage",
		Doc: "EventPage is what PullEvents read. Next is the cursor to read what\nfollows: the last event's, or the one given when nothing was new."},
	{Name: "RunLog", From: "runtime/store.RunLog",
		Doc:    "RunLog is the record of one run.",
		Fields: map[string]Field{"Entries": {Type: "[]Exchange"}}},
	{Name: "Tenant", From: "runtime/store.Tenant"},
	{Name: "Problem", From: "runtime/api.Problem",
		Doc: "Problem is an error the API answered: an RFC 9457 problem details body.",
		Fields: map[string]Field{
			"Type":  {Doc: "Type is \"https://membrane.dev/problems/<slug>\" (\"about:blank\" for\n401 and 403); Kind returns the slug."},
			"Error": {Name: "Cause", Doc: "Cause is the run or credentials check error behind the problem (the\n\"error\" member)."},
		},
		Extra: []Extra{{Name: "RetryAfter", Type: "time.Duration", Tag: "-",
			Doc: "RetryAfter is the answer's Retry-After: set with 503\nstore-unavailable and 409 idempotency-key-in-flight, when retrying\nlater is the remedy."}}},
	{Name: "FieldError", From: "runtime/api.FieldError"},
	{Name: "RunError", From: "runtime/api.RunError",
		Doc: "RunError is why a run or a connection test failed.",
		Fields: map[string]Field{
			"Type": {Doc: "Type is one of the error types of spec/errtype: auth, not-found,\nrate-limited, invalid-input, conflict, upstream, network, timeout,\ninvalid-output, expression, refused, canceled, host-not-allowed,\ncompensation-failed or call-depth."},
		}},
	{Name: "Diagnostic", From: "spec/diag.Diagnostic",
		Doc: "Diagnostic is a problem of an override document, at its place."},
}

// mapped gives the client's type for a source type that is not copied:
// one that encodes itself.
var mapped = map[string]string{
	// A tree.Value encodes as the JSON it holds.
	"spec/tree.Value": "json.RawMessage",
	// A severity encodes as its name ("error", "warning").
	"spec/diag.Severity": "string",
}

// inline tunes the fields of source structs the client writes in place, as
// anonymous structs.
var inline = map[string]Type{
	"runtime/connections.AuthInfo": {},
	"spec/diag.Pos":                {Fields: map[string]Field{"Col": {Name: "Column"}}},
}
