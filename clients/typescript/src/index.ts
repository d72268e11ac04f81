export { createMembraneClient, MembraneError, ok } from "./client.js";
export type { MembraneClient, MembraneClientOptions, Problem, TokenSource } from "./client.js";
export { streamEvents } from "./events.js";
export type { EventItem, StreamEventsOptions } from "./events.js";
export { MAX_TENANT_KEY_LENGTH, MIN_SECRET_BYTES, mintTenantToken, tenantTokenMinter, validTenantKey } from "./tokens.js";
export type { TenantTokenClaims, TenantTokenMinter, TenantTokenMinterOptions, TenantTokenSigner } from "./tokens.js";
export type { components, operations, paths } from "./openapi.js";

import type { components } from "./openapi.js";
export type Connection = components["schemas"]["Connection"];
export type RunResult = components["schemas"]["RunResult"];
