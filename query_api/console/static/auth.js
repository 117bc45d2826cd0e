// The operator's bearer token: kept in sessionStorage (gone when the tab closes), read
// client-side only to show its scopes and expiry; the APIs verify it on every call.

const STORAGE_KEY = "ledger.console.token";

/** What the console's pages call, by scope (see docs/console.md). */
export const WANTED_SCOPES = ["projections:admin", "events:read", "ledger:read", "ledger:all-owners"];

export class TokenFormatError extends Error {}

export function currentToken() {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function saveToken(token) {
  sessionStorage.setItem(STORAGE_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(STORAGE_KEY);
}

function base64UrlJson(part) {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The claims of a JWT, unverified (display only); throws TokenFormatError. */
export function decodeToken(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new TokenFormatError("A token is three base64url parts separated by dots (a JWT).");
  try {
    const claims = base64UrlJson(parts[1]);
    if (typeof claims !== "object" || claims === null) throw new Error("not an object");
    return claims;
  } catch {
    throw new TokenFormatError("The token's payload is not base64url-encoded JSON.");
  }
}

/** The pasted text as a bare token: "Bearer " and whitespace removed. */
export function cleanToken(text) {
  return text.trim().replace(/^Bearer\s+/i, "").replace(/\s+/g, "");
}

export function scopesOf(claims) {
  return String(claims.scope ?? "").split(" ").filter(Boolean);
}

export function expiryOf(claims) {
  return typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null;
}

export function isExpired(claims, now = Date.now()) {
  const expiry = expiryOf(claims);
  return expiry !== null && expiry.getTime() <= now;
}

/** The stored token's claims, or null when there is none or it cannot be read. */
export function currentClaims() {
  const token = currentToken();
  if (!token) return null;
  try {
    return decodeToken(token);
  } catch {
    return null;
  }
}
