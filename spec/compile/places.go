package compile

import (
	"slices"

	"github.com/membrane-dev/membrane/spec/expr"
)

// Place is where expressions stand in a spec file, and the variables they
// see there.
type Place struct {
	Name   string   // a heading: "Action request"
	Fields []string // the fields, as written in a file
	Vars   []string
	Note   string
}

// Places lists every place expressions stand in, with the very variable
// lists the compiler declares there: docs/cel-reference.md is generated
// from it (see spec/internal/celref), so the reference cannot drift from
// what a file may write.
func Places() []Place {
	stepExtra := []string{VarVars}
	return []Place{
		{"Connector", []string{"baseUrl"}, varsConnector, ""},
		{"Connector headers", []string{"headers"}, varsConnHeaders, "`credentials` are readable here (a second header a vendor wants), never in `baseUrl`: they go only where the file sends them."},
		{"Connector errors and retry", []string{"errors[].when", "errors[].message", "retry.when", "retry.after"}, varsConnError, "`when` of an error rule is evaluated on every response (a 200 too) unless `status` narrows it."},
		{"Auth", []string{"auth.authorizationUrl", "auth.tokenUrl", "auth.value", "auth.username", "auth.password", "auth.token", "auth.login.request", "auth.test"}, varsAuth, ""},
		{"Auth session", []string{"auth.headers", "auth.query"}, varsSession, ""},
		{"Auth login response", []string{"auth.login.token", "auth.login.expiresIn"}, varsLoginResp, ""},
		{"Auth info", []string{"auth.info"}, varsConnError, "`response` is the auth.test response; the result is stored as `connection.info`."},
		{"Action request", []string{"request.path", "request.query", "request.headers", "request.body", "request.idempotencyKey"}, varsRequest, "`page` is set on the requests of a paginated action."},
		{"Action errors and retry", []string{"errors[].when", "errors[].message", "retry.when", "retry.after"}, varsError, ""},
		{"Pagination, per page", []string{"pagination.items", "pagination.nextCursor", "pagination.hasMore"}, varsPage, ""},
		{"Pagination, before the first page", []string{"pagination.pageSize", "pagination.maxPages", "pagination.startCursor"}, beforeFirstPage(varsPage), ""},
		{"Record mapping", []string{"record"}, varsRecord, ""},
		{"Output of a one-request action", []string{"output"}, varsOutput, ""},
		{"Output of a paginated action", []string{"output"}, varsListOutput, "`pagination` says whether the walk stopped at maxPages (`truncated`) and what resumes it (`nextCursor`)."},
		{"Output of a steps action", []string{"output"}, varsStepsOutput, ""},
		{"Step condition and forEach", []string{"steps[].when", "steps[].forEach"}, slices.Concat(varsStepCond, stepExtra), "A `when` of a forEach step may also read `item` and `index`; inside `onError`, `error` too."},
		{"Step", []string{"steps[].let", "steps[].request", "steps[].input", "steps[].return", "steps[].output", "steps[].errors", "steps[].retry"}, slices.Concat(varsStep, stepExtra), "`response` in a request step's output, errors and retry; `result` in a call step's output; `error` inside `onError`."},
		{"onError return", []string{"onError.return"}, slices.Concat(varsStepCond, []string{VarVars, VarError}), ""},
		{"Event record", []string{"record"}, varsEventMapping, ""},
		{"Webhook subscribe", []string{"webhook.subscribe"}, varsSubscribe, ""},
		{"Webhook subscription answer", []string{"webhook.subscriptionId"}, varsSubscribed, ""},
		{"Webhook unsubscribe", []string{"webhook.unsubscribe"}, varsUnsubscribe, ""},
		{"Webhook secret", []string{"webhook.signature.secret", "webhook.signature.publicKey"}, varsSecret, "`app` is readable here only: the secrets of the vendor app a workspace registered, which app-wide webhooks are signed with, by the names membrane.yaml's `webhookSecrets.<connector>` gives them, and `clientSecret`, the secret of `oauthClients.<connector>`. While the workspace does not give the name an expression reads, every push is refused (no signing secret)."},
		{"Webhook signature", []string{"webhook.signature.*"}, varsSignature, ""},
		{"Incoming webhook", []string{"webhook.connectionKey", "webhook.records", "webhook.handshake.when"}, varsIncoming, ""},
		{"Webhook match", []string{"webhook.match"}, varsMatch, ""},
		{"Incoming webhook record", []string{"webhook.id", "webhook.type", "webhook.updatedAt", "webhook.filter", "webhook.enrich.input"}, varsIncomingRec, ""},
		{"Webhook answer", []string{"webhook.response.body", "webhook.handshake.body"}, varsWebhookAnswer, ""},
		{"Webhook kept and renewal", []string{"webhook.keep", "webhook.expiresAt"}, varsKept, ""},
		{"Webhook renew", []string{"webhook.renew"}, varsRenew, ""},
		{"Poll request", []string{"polling.request"}, varsPollRequest, ""},
		{"Poll page", []string{"polling.items", "polling.pagination.items", "polling.pagination.nextCursor", "polling.pagination.hasMore"}, varsPollPage, ""},
		{"Poll pagination, before the first page", []string{"polling.pagination.pageSize", "polling.pagination.maxPages", "polling.pagination.startCursor"}, beforeFirstPage(varsPollPage), ""},
		{"Poll record", []string{"polling.id", "polling.updatedAt", "polling.deleted", "polling.created"}, varsPollRecord, ""},
		{"Poll cursor", []string{"polling.cursor"}, varsPollCursor, ""},
	}
}

// VarNames lists every variable an expression may be given somewhere.
func VarNames() []string {
	types := NewScope(nil).types
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// VarType is the type a variable has in a connector without schemas:
// `input`, `connection.parameters` and `credentials` take their types
// from the file's schemas, `steps` and `vars` from the steps.
func VarType(name string) *expr.Type {
	return NewScope(nil).types[name]
}
