package connections

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/membrane-dev/membrane/layers"
	"github.com/membrane-dev/membrane/runtime/httpx"
	"github.com/membrane-dev/membrane/spec"
	"github.com/membrane-dev/membrane/spec/diag"
	"github.com/membrane-dev/membrane/spec/tree"
)

// A limit bounds what one request may cost Membrane itself: how long it
// holds a worker, how much of its answer is read into memory, how many
// times it is sent. Anyone holding a tenant token may store an override,
// so a stored override may lower a limit, never raise it above what the
// workspace's files give the connection (or the runtime's default where
// they give none): a tenant that could lift maxResponseBytes to a
// gigabyte could take the server's memory from every other tenant.
type limit struct {
	path  []string // under connectorPatch, or under actions.<key>
	value func(c *spec.Connector, a *spec.Action) int64
	show  func(int64) string
}

func showBytes(n int64) string    { return fmt.Sprintf("%d bytes", n) }
func showDuration(n int64) string { return time.Duration(n).String() }
func showAttempts(n int64) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// orDefault is v, or the runtime's default when the files leave it unset.
func orDefault(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

func httpOf(c *spec.Connector) spec.HTTPSettings {
	if c.HTTP == nil {
		return spec.HTTPSettings{}
	}
	return *c.HTTP
}

// retryOf is the policy a request of the action runs with: the action's
// own, else the connector's (as the engine picks it).
func retryOf(c *spec.Connector, a *spec.Action) spec.RetryPolicy {
	if a != nil && a.Retry != nil {
		return *a.Retry
	}
	if c.Retry != nil {
		return *c.Retry
	}
	return spec.RetryPolicy{}
}

var connectorLimits = []limit{
	{[]string{"http", "maxResponseBytes"}, func(c *spec.Connector, _ *spec.Action) int64 {
		return orDefault(httpOf(c).MaxResponseBytes, httpx.DefaultMaxResponseBytes)
	}, showBytes},
	{[]string{"http", "connectTimeout"}, func(c *spec.Connector, _ *spec.Action) int64 {
		return orDefault(int64(httpOf(c).ConnectTimeout.Duration), int64(httpx.DefaultConnectTimeout))
	}, showDuration},
	{[]string{"http", "readTimeout"}, func(c *spec.Connector, _ *spec.Action) int64 {
		return orDefault(int64(httpOf(c).ReadTimeout.Duration), int64(httpx.DefaultReadTimeout))
	}, showDuration},
	{[]string{"http", "writeTimeout"}, func(c *spec.Connector, _ *spec.Action) int64 {
		return orDefault(int64(httpOf(c).WriteTimeout.Duration), int64(httpx.DefaultWriteTimeout))
	}, showDuration},
	{[]string{"retry", "maxAttempts"}, func(c *spec.Connector, _ *spec.Action) int64 {
		return orDefault(int64(retryOf(c, nil).MaxAttempts), httpx.DefaultMaxAttempts)
	}, showAttempts},
	{[]string{"retry", "maxBackoff"}, func(c *spec.Connector, _ *spec.Action) int64 {
		return orDefault(int64(retryOf(c, nil).MaxBackoff.Duration), int64(httpx.DefaultMaxBackoff))
	}, showDuration},
}

var actionLimits = []limit{
	{[]string{"retry", "maxAttempts"}, func(c *spec.Connector, a *spec.Action) int64 {
		return orDefault(int64(retryOf(c, a).MaxAttempts), httpx.DefaultMaxAttempts)
	}, showAttempts},
	{[]string{"retry", "maxBackoff"}, func(c *spec.Connector, a *spec.Action) int64 {
		return orDefault(int64(retryOf(c, a).MaxBackoff.Duration), int64(httpx.DefaultMaxBackoff))
	}, showDuration},
}

// checkLimits reports each limit a stored override raises above what the
// workspace's files give (files: the override files that match the
// connection, as fileOverrides gives them), at the field's place in the
// stored document. It resolves the connector and every action the
// override patches twice, with and without it, and compares.
func checkLimits(ws *spec.Workspace, connector string, files []*spec.ConnectionOverride, o *spec.ConnectionOverride, diags *diag.List) {
	doc := o.Source.Doc
	if patch := doc.Get("connectorPatch"); patch != nil && hasAny(patch, connectorLimits) {
		base, d1 := layers.ResolveConnector(ws, connector, files...)
		mine, d2 := layers.ResolveConnector(ws, connector, append(slices.Clone(files), o)...)
		if base != nil && mine != nil && !d1.HasErrors() && !d2.HasErrors() {
			compareLimits(connectorLimits, "connectorPatch", patch, base.Connector, nil, mine.Connector, nil, diags)
		}
	}
	patches := doc.Get("actions")
	for _, key := range slices.Sorted(maps.Keys(o.Actions)) {
		patch := patches.Get(key)
		if patch == nil || !hasAny(patch, actionLimits) || ws.Action(connector, key) == nil {
			continue
		}
		base, d1 := layers.ResolveAction(ws, connector, key, files...)
		mine, d2 := layers.ResolveAction(ws, connector, key, append(slices.Clone(files), o)...)
		if base != nil && mine != nil && !d1.HasErrors() && !d2.HasErrors() {
			compareLimits(actionLimits, "actions."+key, patch, base.Connector, base.Action, mine.Connector, mine.Action, diags)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(o.Actions)) {
		patch := patches.Get(key)
		if ws.Action(connector, key) == nil || !hasStepRetry(patch) {
			continue
		}
		if base, d := layers.ResolveAction(ws, connector, key, files...); base != nil && !d.HasErrors() {
			checkStepRetries(patch, "actions."+key, base.Connector, base.Action, diags)
		}
	}
}

// hasStepRetry says whether an action's patch writes a step's retry.
func hasStepRetry(patch *tree.Value) bool {
	found := false
	eachStepNode(patch, func(string, *tree.Value) {
		found = true
	})
	return found
}

// eachStepNode calls fn with the retry of every step a patch writes (in
// steps, and the steps of onError blocks), with the step's place.
func eachStepNode(patch *tree.Value, fn func(where string, retry *tree.Value)) {
	var walk func(list *tree.Value, where string)
	walk = func(list *tree.Value, where string) {
		if list == nil || list.Kind != tree.List {
			return
		}
		for i, st := range list.Items {
			at := fmt.Sprintf("%s[%d]", where, i)
			if r := st.Get("retry"); r != nil {
				fn(at, r)
			}
			walk(st.Get("onError").Get("steps"), at+".onError.steps")
		}
	}
	walk(patch.Get("steps"), "steps")
	walk(patch.Get("onError").Get("steps"), "onError.steps")
}

// checkStepRetries holds the retries of the steps a stored override
// writes to the ceiling the files give the action's requests (its retry,
// or the connector's, or the runtime's default), or the highest a step of
// the files already has.
func checkStepRetries(patch *tree.Value, prefix string, bc *spec.Connector, ba *spec.Action, diags *diag.List) {
	ceilAttempts := actionLimits[0].value(bc, ba)
	ceilBackoff := actionLimits[1].value(bc, ba)
	var walk func([]spec.Step)
	walk = func(steps []spec.Step) {
		for _, st := range steps {
			if r := st.Retry; r != nil {
				ceilAttempts = max(ceilAttempts, int64(r.MaxAttempts))
				ceilBackoff = max(ceilBackoff, int64(r.MaxBackoff.Duration))
			}
			if st.OnError != nil {
				walk(st.OnError.Steps)
			}
		}
	}
	walk(ba.Steps)
	if ba.OnError != nil {
		walk(ba.OnError.Steps)
	}
	eachStepNode(patch, func(where string, retry *tree.Value) {
		if f := retry.Field("maxAttempts"); f != nil && f.Value.Kind == tree.Int && f.Value.Int > ceilAttempts {
			diags.Errorf(f.KeyPos, "limit-raised", "%s.%s.retry.maxAttempts: %s is above this connection's limit of %s; a stored override may lower a limit, never raise it (a limit bounds what one request costs the server every tenant shares). A higher limit goes in the action's file or a ConnectionOverride file of the workspace",
				prefix, where, showAttempts(f.Value.Int), showAttempts(ceilAttempts))
		}
		if f := retry.Field("maxBackoff"); f != nil && f.Value.Kind == tree.String {
			if d, err := time.ParseDuration(f.Value.Str); err == nil && int64(d) > ceilBackoff {
				diags.Errorf(f.KeyPos, "limit-raised", "%s.%s.retry.maxBackoff: %s is above this connection's limit of %s; a stored override may lower a limit, never raise it (a limit bounds what one request costs the server every tenant shares). A higher limit goes in the action's file or a ConnectionOverride file of the workspace",
					prefix, where, showDuration(int64(d)), showDuration(ceilBackoff))
			}
		}
	})
}

func hasAny(patch *tree.Value, limits []limit) bool {
	for _, l := range limits {
		if fieldAt(patch, l.path) != nil {
			return true
		}
	}
	return false
}

func fieldAt(v *tree.Value, path []string) *tree.Field {
	for _, k := range path[:len(path)-1] {
		v = v.Get(k)
	}
	return v.Field(path[len(path)-1])
}

func compareLimits(limits []limit, prefix string, patch *tree.Value, bc *spec.Connector, ba *spec.Action, mc *spec.Connector, ma *spec.Action, diags *diag.List) {
	for _, l := range limits {
		f := fieldAt(patch, l.path)
		if f == nil {
			continue
		}
		ceiling, got := l.value(bc, ba), l.value(mc, ma)
		if got <= ceiling {
			continue
		}
		name := prefix
		for _, k := range l.path {
			name += "." + k
		}
		diags.Errorf(f.KeyPos, "limit-raised", "%s: %s is above this connection's limit of %s; a stored override may lower a limit, never raise it (a limit bounds what one request costs the server every tenant shares). A higher limit goes in the connector's file or a ConnectionOverride file of the workspace",
			name, l.show(got), l.show(ceiling))
	}
}
