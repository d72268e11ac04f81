package client

import (
	"encoding/json"
	"time"
)

// Page is one page of a listing; Next is the cursor of the following one,
// empty on the last.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// Connection is a tenant's authenticated link to an app. The API never
// returns its credentials.
type Connection struct {
	ID        string `json:"id"`
	Tenant    string `json:"tenant"`
	Connector string `json:"connector"`
	Name      string `json:"name,omitempty"`
	// State is connected, error (retried by the server) or disconnected
	// (reconnect it).
	State      string         `json:"state"`
	LastError  string         `json:"lastError,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Info       map[string]any `json:"info,omitempty"`
	CreatedAt  time.Time      `json:"createdAt"`
	UpdatedAt  time.Time      `json:"updatedAt"`
	Version    int64          `json:"version"`
}

// CreateConnectionRequest connects with credentials.
type CreateConnectionRequest struct {
	Connector   string         `json:"connector"`
	Name        string         `json:"name,omitempty"`
	Parameters  map[string]any `json:"parameters,omitempty"`
	Credentials map[string]any `json:"credentials,omitempty"`
	// IdempotencyKey, when set, is sent as the Idempotency-Key header: a
	// retry of the same request with the same key gets the first answer
	// and creates nothing more. Make one with NewIdempotencyKey per
	// logical request, and reuse it for its retries.
	IdempotencyKey string `json:"-"`
}

// TestResult is the outcome of a connection's test request.
type TestResult struct {
	Connection *Connection `json:"connection"`
	OK         bool        `json:"ok"`
	Error      *RunError   `json:"error,omitempty"`
	Log        []Exchange  `json:"log,omitempty"`
}

// Exchange is one request to the upstream API and its answer, redacted.
type Exchange struct {
	Method          string              `json:"method"`
	URL             string              `json:"url"`
	RequestHeaders  map[string][]string `json:"requestHeaders,omitempty"`
	RequestBody     string              `json:"requestBody,omitempty"`
	Status          int                 `json:"status,omitempty"`
	ResponseHeaders map[string][]string `json:"responseHeaders,omitempty"`
	ResponseBody    string              `json:"responseBody,omitempty"`
	Attempts        int                 `json:"attempts,omitempty"`
	Duration        time.Duration       `json:"-"` // durationMs in JSON
	Error           string              `json:"error,omitempty"`
}

// AuthorizeRequest starts an OAuth consent.
type AuthorizeRequest struct {
	Connector string `json:"connector"`
	// ConnectionID re-authorises a connection; empty connects a new one.
	ConnectionID string         `json:"connectionId,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	// ReturnURL is where the user lands once connected.
	ReturnURL string `json:"returnUrl,omitempty"`
}

// ConnectorInfo is a connector of the catalogue.
type ConnectorInfo struct {
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Auth        struct {
		Type  string `json:"type"`
		Grant string `json:"grant,omitempty"`
	} `json:"auth"`
	// ParametersSchema and CredentialsSchema are JSON Schemas, absent when
	// nothing is asked.
	ParametersSchema  json.RawMessage `json:"parametersSchema,omitempty"`
	CredentialsSchema json.RawMessage `json:"credentialsSchema,omitempty"`
	Actions           []ActionSummary `json:"actions"`
}

// ActionSummary names an action.
type ActionSummary struct {
	Key         string `json:"key"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Implements  string `json:"implements,omitempty"`
}

// ActionInfo is an action a connection can run, its schemas after the
// connection's overrides.
type ActionInfo struct {
	ActionSummary
	InputSchema  json.RawMessage `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
}

// RunResult is a run's output.
type RunResult struct {
	RunID  string          `json:"runId"`
	Output json.RawMessage `json:"output"`
	Log    []Exchange      `json:"log,omitempty"`
}

// Override is a stored connection override.
type Override struct {
	Connector    string    `json:"connector"`
	ConnectionID string    `json:"connectionId,omitempty"`
	Revision     int64     `json:"revision"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	// Document is the ConnectionOverride exactly as it was stored.
	Document string `json:"document"`
	// Warnings are the stored document's, on a PUT.
	Warnings []Diagnostic `json:"warnings,omitempty"`
}

// CheckResult is the verdict on an override document.
type CheckResult struct {
	Valid       bool         `json:"valid"`
	Diagnostics []Diagnostic `json:"diagnostics"`
}

// RunLog is the record of one run.
type RunLog struct {
	ID           string     `json:"id"`
	Tenant       string     `json:"tenant"`
	ConnectionID string     `json:"connectionId,omitempty"`
	Action       string     `json:"action"`
	Status       string     `json:"status"`
	Error        string     `json:"error,omitempty"`
	DurationMs   int64      `json:"durationMs"`
	Entries      []Exchange `json:"entries,omitempty"`
	CreatedAt    time.Time  `json:"createdAt"`
}

// Tenant is a tenant of the workspace.
type Tenant struct {
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"createdAt"`
}
