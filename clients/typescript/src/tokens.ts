import { SignJWT, base64url, type CryptoKey, type KeyObject } from "jose";

/**
 * Tenant tokens, as Membrane checks them (runtime/tenancy) and as
 * `membrane token` mints them: a JWT whose `iss` is the workspace key,
 * `sub` the tenant key, with `iat`, `exp`, a random `jti`, and `isAdmin`
 * and `name` when given. Signed with the workspace secret (HS256, or
 * HS512), or with a private key whose public half the server has in
 * MEMBRANE_TOKEN_PUBLIC_KEYS (RS256 or ES256).
 */

/** The shortest workspace secret Membrane accepts, in bytes. */
export const MIN_SECRET_BYTES = 32;

/** The longest tenant key. */
export const MAX_TENANT_KEY_LENGTH = 128;

const tenantKey = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

/** validTenantKey reports whether s is a tenant key Membrane accepts. */
export function validTenantKey(s: string): boolean {
  return typeof s === "string" && tenantKey.test(s);
}

export type TenantTokenSigner =
  | {
      /** The workspace secret (MEMBRANE_WORKSPACE_SECRET, or membrane.yaml's secretEnv), used as its UTF-8 bytes. */
      secret: string | Uint8Array;
      /** HS256 (the default) or HS512. */
      algorithm?: "HS256" | "HS512";
    }
  | {
      /** A private key (jose's importPKCS8, or a KeyObject) whose public key the server has. */
      privateKey: CryptoKey | KeyObject;
      algorithm: "RS256" | "ES256";
    };

export type TenantTokenMinterOptions = TenantTokenSigner & {
  /** The workspace key: membrane.yaml's `key`, the tokens' issuer. */
  workspace: string;
};

export interface TenantTokenClaims {
  /** The tenant key (letters, digits and _ . : @ -, starting with a letter or digit, at most 128). */
  tenant: string;
  /** An admin token may manage the workspace, not only its tenant's data. */
  admin?: boolean;
  /** A display name, for logs and the console. */
  name?: string;
  /** Lifetime in seconds, at least 1; 3600 when absent. */
  ttlSeconds?: number;
}

/** A function that mints a tenant token. */
export type TenantTokenMinter = (claims: TenantTokenClaims) => Promise<string>;

/**
 * tenantTokenMinter checks the options once and returns a function that
 * mints tokens with them:
 *
 *   const mint = tenantTokenMinter({ workspace: "acme-app", secret: process.env.MEMBRANE_WORKSPACE_SECRET! });
 *   const token = await mint({ tenant: "customer-42", ttlSeconds: 900 });
 *
 * Errors say what is wrong; none holds the secret.
 */
export function tenantTokenMinter(options: TenantTokenMinterOptions): TenantTokenMinter {
  const problems: string[] = [];
  if (typeof options.workspace !== "string" || options.workspace === "") {
    problems.push("workspace (the workspace key, the tokens' issuer) is empty");
  }
  let key: Uint8Array | CryptoKey | KeyObject | undefined;
  let alg: string;
  if ("secret" in options) {
    alg = options.algorithm ?? "HS256";
    if (alg !== "HS256" && alg !== "HS512") {
      problems.push(`algorithm ${JSON.stringify(alg)} does not go with a secret; use HS256 or HS512`);
    }
    const secret = typeof options.secret === "string" ? new TextEncoder().encode(options.secret) : options.secret;
    if (!(secret instanceof Uint8Array)) {
      problems.push("secret must be a string or a Uint8Array");
    } else if (secret.length < MIN_SECRET_BYTES) {
      problems.push(`the secret has ${secret.length} bytes; at least ${MIN_SECRET_BYTES} random bytes are needed (openssl rand -base64 48)`);
    } else {
      key = Uint8Array.from(secret); // a copy: a caller reusing its buffer cannot change the key
    }
  } else if ("privateKey" in options) {
    alg = options.algorithm;
    if (alg !== "RS256" && alg !== "ES256") {
      problems.push(`algorithm ${JSON.stringify(alg)} does not go with a private key; use RS256 or ES256`);
    }
    key = options.privateKey;
    if (key === undefined || key === null) {
      problems.push("privateKey is missing");
    }
  } else {
    alg = "";
    problems.push("give secret (the workspace secret) or privateKey and algorithm");
  }
  if (problems.length > 0) {
    throw new TypeError("membrane: tenant tokens: " + problems.join("; "));
  }
  const workspace = options.workspace;
  return async (claims: TenantTokenClaims) => {
    const bad: string[] = [];
    if (!validTenantKey(claims.tenant)) {
      bad.push(`${JSON.stringify(claims.tenant)} is not a valid tenant key (letters, digits and _ . : @ -, starting with a letter or digit, at most ${MAX_TENANT_KEY_LENGTH})`);
    }
    const ttl = claims.ttlSeconds ?? 3600;
    // Under a second would give an exp equal to iat: a token born expired.
    if (!Number.isInteger(ttl) || ttl < 1) {
      bad.push(`ttlSeconds ${ttl} is not a whole number of seconds of at least 1`);
    }
    if (claims.name !== undefined && typeof claims.name !== "string") {
      bad.push("name must be a string");
    }
    if (bad.length > 0) {
      throw new TypeError("membrane: tenant token: " + bad.join("; "));
    }
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {};
    // Like the Go minter: isAdmin and name only when they say something.
    if (claims.admin === true) payload.isAdmin = true;
    if (claims.name) payload.name = claims.name;
    return new SignJWT(payload)
      .setProtectedHeader({ alg, typ: "JWT" })
      .setIssuer(workspace)
      .setSubject(claims.tenant)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .setJti(tokenID())
      .sign(key!);
  };
}

/** mintTenantToken mints one token: tenantTokenMinter(options)(claims). */
export function mintTenantToken(options: TenantTokenMinterOptions & TenantTokenClaims): Promise<string> {
  return tenantTokenMinter(options)(options);
}

/** tokenID is 16 random bytes, base64url: two tokens minted in one second differ. */
function tokenID(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return base64url.encode(b);
}
