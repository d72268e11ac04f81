package client

// ConnectionFilter selects connections to list.
type ConnectionFilter struct {
	Connector string
	Cursor    string
	Limit     int
}

// RunOptions tune a run.
type RunOptions struct {
	// Log returns the run's exchanges, redacted, in RunResult.Log.
	Log bool
	// IdempotencyKey, when set, is sent as the Idempotency-Key header: a
	// retry of the same run with the same key gets the first answer and
	// does not run the action again.
	IdempotencyKey string
}

// PutOverrideOptions tune storing an override.
type PutOverrideOptions struct {
	// IfRevision, when not 0, stores only over that revision (a
	// *Problem of kind precondition-failed otherwise).
	IfRevision int64
	// ContentType is application/yaml or application/json; empty guesses
	// from the document (JSON when it starts with '{').
	ContentType string
}

// OverrideFilter selects overrides to list.
type OverrideFilter struct {
	Connector    string
	ConnectionID string
	Cursor       string
	Limit        int
}

// RunLogFilter selects run logs, newest first.
type RunLogFilter struct {
	ConnectionID string
	Action       string
	// Origin is the front end that asked for the runs: api, mcp,
	// console, poll or webhook.
	Origin string
	// Status is ok or an error type.
	Status string
	// RequestID is the X-Request-Id of the API request the runs served.
	RequestID string
	Cursor    string
	Limit     int
}
