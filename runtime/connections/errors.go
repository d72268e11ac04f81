package connections

import (
	"errors"
	"fmt"
	"strings"

	"github.com/membrane-dev/membrane/runtime/engine"
	"github.com/membrane-dev/membrane/runtime/store"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/schema"
)

// Errors to branch on with errors.Is. The REST API maps them to statuses.
var (
	// ErrNotFound: no such connection (or override) for this tenant. One
	// of another tenant is not found either. It is store.ErrNotFound.
	ErrNotFound = store.ErrNotFound
	// ErrInvalid: the request is wrong (a *ValidationError, an
	// *OverrideError, a connection of another connector...).
	ErrInvalid = errors.New("invalid request")
	// ErrUnknownConnector: the workspace has no such connector.
	ErrUnknownConnector = errors.New("unknown connector")
	// ErrUnknownAction: the connector has no such action.
	ErrUnknownAction = errors.New("unknown action")
	// ErrCredentialsRefused: the API refused the credentials given (a
	// *CredentialsRefusedError); nothing was saved.
	ErrCredentialsRefused = errors.New("the API refused the credentials")
	// ErrDisconnected: the connection is disconnected, so nothing is sent
	// on it until a user re-authorises it (a *DisconnectedError).
	ErrDisconnected = errors.New("the connection is disconnected")
	// ErrOAuthRequired: the connector connects through the provider's
	// consent page (BeginOAuth), not with credentials typed in a form.
	ErrOAuthRequired = errors.New("the connector connects through OAuth consent; use BeginOAuth")
	// ErrOAuthUnavailable: an OAuth2 connector without an OAuth manager.
	ErrOAuthUnavailable = errors.New("OAuth is not configured on this server")
)

// ValidationError says how a request breaks the connector's schemas, each
// violation at the JSON Pointer of the offending value in the request
// ("/parameters/region", "/credentials/apiKey"). A credential's value is
// never in a message.
type ValidationError struct {
	Message    string             `json:"message"`
	Violations []schema.Violation `json:"violations"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, v := range e.Violations {
		fmt.Fprintf(&b, "\n  %s: %s", orRoot(v.Pointer), v.Message)
	}
	return b.String()
}

func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// CredentialsRefusedError is the API's refusal of the credentials, from
// the connector's test request. Err is the run error, redacted.
type CredentialsRefusedError struct {
	Connector string
	Err       *engine.Error
}

func (e *CredentialsRefusedError) Error() string {
	msg := fmt.Sprintf("the %s API refused the credentials", e.Connector)
	if e.Err != nil {
		if e.Err.Status != 0 {
			msg += fmt.Sprintf(" (status %d)", e.Err.Status)
		}
		msg += ": " + e.Err.Message
	}
	return msg
}

func (e *CredentialsRefusedError) Is(target error) bool { return target == ErrCredentialsRefused }

func (e *CredentialsRefusedError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// DisconnectedError refuses a run on a disconnected connection.
type DisconnectedError struct {
	ConnectionID string
	// Reason is the connection's LastError: why it was disconnected.
	Reason string
}

func (e *DisconnectedError) Error() string {
	msg := fmt.Sprintf("connection %q is disconnected; a user must re-authorise it", e.ConnectionID)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

func (e *DisconnectedError) Is(target error) bool { return target == ErrDisconnected }

// OverrideError is a stored override that does not validate: the
// diagnostics are placed in the document, named like
// "stored override hubspot/conn_… rev 3".
type OverrideError struct {
	Name        string    `json:"name"`
	Diagnostics diag.List `json:"diagnostics"`
}

func (e *OverrideError) Error() string {
	return e.Name + " is invalid:\n" + diag.ListError(e.Diagnostics).Error()
}

func (e *OverrideError) Is(target error) bool { return target == ErrInvalid }

// unknownError names an unknown connector or action, with a suggestion.
type unknownError struct {
	msg      string
	sentinel error
}

func (e *unknownError) Error() string { return e.msg }

func (e *unknownError) Is(target error) bool { return target == e.sentinel || target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
