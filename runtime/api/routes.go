package api

import "net/http"

// access is who may call a route.
type access int

const (
	public access = iota // no token (the OpenAPI document)
	tenant               // any valid token; acts on the token's tenant
	admin                // a token with isAdmin
)

// route is one operation. The table is the single source of the mux, and
// the tests check openapi.json against it both ways.
type route struct {
	method, path string
	access       access
	handle       func(a *api, w http.ResponseWriter, r *http.Request)
}

// Routes lists every route as "METHOD /path/{param}", as openapi.json
// names them.
func Routes() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.method + " " + rt.path
	}
	return out
}

var routes = []route{
	{"GET", "/openapi.json", public, (*api).openAPI},

	{"GET", "/v1/tenants", admin, (*api).listTenants},
	{"PUT", "/v1/tenants/{tenant}", admin, (*api).putTenant},
	{"DELETE", "/v1/tenants/{tenant}", admin, (*api).deleteTenant},

	{"GET", "/v1/connectors", tenant, (*api).listConnectors},
	{"GET", "/v1/connectors/{connector}", tenant, (*api).getConnector},

	{"GET", "/v1/connections", tenant, (*api).listConnections},
	{"POST", "/v1/connections", tenant, idempotent((*api).createConnection)},
	{"GET", "/v1/connections/{id}", tenant, (*api).getConnection},
	{"DELETE", "/v1/connections/{id}", tenant, (*api).deleteConnection},
	{"POST", "/v1/connections/{id}/test", tenant, (*api).testConnection},
	{"POST", "/v1/connections/{id}/reconnect", tenant, (*api).reconnect},
	{"POST", "/v1/oauth/authorize", tenant, (*api).authorize},

	{"GET", "/v1/connections/{id}/actions", tenant, (*api).listActions},
	{"GET", "/v1/connections/{id}/actions/{action}", tenant, (*api).getAction},
	{"GET", "/v1/connections/{id}/actions/{action}/explain", tenant, (*api).explain},
	{"POST", "/v1/connections/{id}/actions/{action}/run", tenant, idempotent((*api).run)},

	{"GET", "/v1/connections/{id}/override", tenant, (*api).getConnectionOverride},
	{"PUT", "/v1/connections/{id}/override", tenant, (*api).putConnectionOverride},
	{"DELETE", "/v1/connections/{id}/override", tenant, (*api).deleteConnectionOverride},
	{"POST", "/v1/connections/{id}/override/check", tenant, (*api).checkOverride},
	{"GET", "/v1/connectors/{connector}/override", tenant, (*api).getConnectorOverride},
	{"PUT", "/v1/connectors/{connector}/override", tenant, (*api).putConnectorOverride},
	{"DELETE", "/v1/connectors/{connector}/override", tenant, (*api).deleteConnectorOverride},
	{"GET", "/v1/overrides", tenant, (*api).listOverrides},

	{"GET", "/v1/connections/{id}/subscriptions", tenant, (*api).listSubscriptions},
	{"POST", "/v1/connections/{id}/subscriptions", tenant, (*api).createSubscription},
	{"GET", "/v1/connections/{id}/subscriptions/{subId}", tenant, (*api).getSubscription},
	{"DELETE", "/v1/connections/{id}/subscriptions/{subId}", tenant, (*api).deleteSubscription},
	{"POST", "/v1/connections/{id}/subscriptions/{subId}/pause", tenant, (*api).pauseSubscription},
	{"POST", "/v1/connections/{id}/subscriptions/{subId}/resume", tenant, (*api).resumeSubscription},

	{"GET", "/v1/destinations", admin, (*api).listDestinations},
	{"POST", "/v1/destinations", admin, (*api).createDestination},
	{"GET", "/v1/destinations/{id}", admin, (*api).getDestination},
	{"PATCH", "/v1/destinations/{id}", admin, (*api).patchDestination},
	{"DELETE", "/v1/destinations/{id}", admin, (*api).deleteDestination},
	{"POST", "/v1/destinations/{id}/rotate-secret", admin, (*api).rotateSecret},
	{"POST", "/v1/destinations/{id}/disable", admin, (*api).disableDestination},
	{"POST", "/v1/destinations/{id}/enable", admin, (*api).enableDestination},
	{"GET", "/v1/deliveries", admin, (*api).listDeliveries},
	{"GET", "/v1/deliveries/attempts", admin, (*api).listAttempts},
	{"POST", "/v1/deliveries/replay", admin, (*api).replay},

	{"GET", "/v1/events", tenant, (*api).pullEvents},
	{"GET", "/v1/events/stream", tenant, (*api).streamEvents},

	{"GET", "/v1/run-logs", tenant, (*api).listRunLogs},
	{"GET", "/v1/run-logs/{id}", tenant, (*api).getRunLog},
}
