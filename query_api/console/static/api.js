// Calls to the Ledger's JSON APIs with the operator's token, and their problems as text.

import { currentClaims, currentToken, scopesOf } from "./auth.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

let unauthorizedHandler = () => {};

/** Called with the ApiError whenever an API refuses the token (401). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/** `path?name=value…`; arrays repeat their name, empty values are left out. */
export function withQuery(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined && item !== "") query.append(name, String(item));
    }
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function problemOf(response) {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (body && typeof body === "object") return body;
  } catch {
    // not JSON: a proxy's page, say
  }
  return { title: response.statusText || `HTTP ${response.status}`, detail: text.slice(0, 200) };
}

/** The response of a call; throws ApiError for any answer but 2xx. */
export async function request(path, { method = "GET", body, params, signal, accept = "application/json" } = {}) {
  const headers = { Authorization: `Bearer ${currentToken() ?? ""}`, Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(withQuery(path, params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { title: "Network error", detail: `The API could not be reached (${error.message}).` });
  }
  if (!response.ok) {
    const error = new ApiError(response.status, await problemOf(response));
    if (response.status === 401) unauthorizedHandler(error);
    throw error;
  }
  return response;
}

export async function getJson(path, params, signal) {
  return (await request(path, { params, signal })).json();
}

export async function postJson(path, body) {
  return (await request(path, { method: "POST", body })).json();
}

/** One readable sentence for an error, saying what to do where there is something to do. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return `Unexpected error: ${error?.message ?? error}`;
  const { status, problem } = error;
  const detail = problem.detail ? ` ${problem.detail}` : "";
  if (status === 0) return `${problem.title}:${detail}`;
  if (status === 401) return `The API refused the token (401 ${problem.title ?? ""}).${detail} Paste a new token.`;
  if (status === 403) {
    const claims = currentClaims();
    const carried = claims ? scopesOf(claims).join(" ") || "no scopes" : "unknown scopes";
    return `Forbidden (403 ${problem.title ?? ""}).${detail} This token carries: ${carried}.`;
  }
  if (status === 503) return `Unavailable (503 ${problem.title ?? ""}).${detail} Try again shortly.`;
  return `${problem.title ?? "Error"} (${status}).${detail}`;
}
