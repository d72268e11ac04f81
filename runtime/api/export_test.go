package api

// RouteAccess is each route's access, "METHOD /path" → public, tenant or
// admin, for the tests that drive every route.
func RouteAccess() map[string]string {
	names := map[access]string{public: "public", tenant: "tenant", admin: "admin"}
	out := map[string]string{}
	for _, rt := range routes {
		out[rt.method+" "+rt.path] = names[rt.access]
	}
	return out
}
