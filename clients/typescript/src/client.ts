import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";
import type { components, paths } from "./openapi.js";

/** The client: openapi-fetch's, typed by Membrane's OpenAPI document. */
export type MembraneClient = Client<paths>;

/** An RFC 9457 problem: every error Membrane answers with. */
export type Problem = components["schemas"]["Problem"];

/**
 * The tenant token sent as `Authorization: Bearer …`: a token, or a
 * function called before every request (to mint a fresh one, or take it
 * from a cache that renews it before it expires).
 */
export type TokenSource = string | (() => string | Promise<string>);

export interface MembraneClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** Where Membrane serves, such as https://integrations.example.com. */
  baseUrl: string;
  token: TokenSource;
}

/**
 * createMembraneClient returns a client of Membrane's REST API at
 * options.baseUrl, sending options.token on every call:
 *
 *   const membrane = createMembraneClient({ baseUrl, token });
 *   const { data, error } = await membrane.GET("/v1/connections");
 */
export function createMembraneClient(options: MembraneClientOptions): MembraneClient {
  const { baseUrl, token, ...rest } = options;
  const client = createClient<paths>({ ...rest, baseUrl: serverURL(baseUrl) });
  client.use(bearer(token));
  return client;
}

/** serverURL checks baseUrl and drops a trailing slash (paths start with one). */
function serverURL(baseUrl: string): string {
  let u: URL;
  try {
    u = new URL(baseUrl);
  } catch {
    throw new TypeError(`membrane: baseUrl ${JSON.stringify(baseUrl)} is not a URL; give where Membrane serves, such as https://integrations.example.com`);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.search !== "" || u.hash !== "") {
    throw new TypeError(`membrane: baseUrl ${JSON.stringify(baseUrl)} must be an http(s) URL without a query or fragment, such as https://integrations.example.com`);
  }
  return u.href.replace(/\/+$/, "");
}

function bearer(token: TokenSource): Middleware {
  if (typeof token !== "string" && typeof token !== "function") {
    throw new TypeError("membrane: token must be a tenant token (a string) or a function that returns one");
  }
  return {
    async onRequest({ request }) {
      const t = typeof token === "function" ? await token() : token;
      if (typeof t !== "string" || t === "") {
        // Never the token itself: it is a secret.
        throw new TypeError("membrane: the token function returned no token");
      }
      request.headers.set("Authorization", `Bearer ${t}`);
      return request;
    },
  };
}

/** MembraneError is a call's problem, thrown by ok(). */
export class MembraneError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;

  constructor(status: number, problem: Problem | undefined) {
    super(problemText(status, problem));
    this.name = "MembraneError";
    this.status = status;
    this.problem = problem;
  }
}

function problemText(status: number, p: Problem | undefined): string {
  if (!p || typeof p !== "object" || typeof p.detail !== "string") {
    return `membrane: HTTP ${status}`;
  }
  let s = `membrane: ${status} ${p.title}: ${p.detail}`;
  for (const e of p.errors ?? []) {
    s += `\n  ${e.pointer ?? e.parameter ?? ""}: ${e.detail}`;
  }
  return s;
}

/**
 * ok returns a call's data, or throws its problem as a MembraneError, for
 * code that would rather throw than check `error` after each call:
 *
 *   const conn = ok(await membrane.GET("/v1/connections/{id}", { params: { path: { id } } }));
 */
export function ok<R extends { data?: unknown; error?: unknown; response: Response }>(
  result: R,
): Exclude<R["data"], undefined> {
  if (result.error !== undefined) {
    throw new MembraneError(result.response.status, result.error as Problem);
  }
  return result.data as Exclude<R["data"], undefined>;
}
