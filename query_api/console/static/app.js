// The console's entry point: the session bar, the hash router and its pages.

import { onUnauthorized } from "./api.js";
import { currentClaims, expiryOf, forgetToken, isExpired, scopesOf, WANTED_SCOPES } from "./auth.js";
import { fill, h, notice } from "./elements.js";
import { time } from "./format.js";
import * as login from "./login.js";
import * as accounts from "./pages/accounts.js";
import * as deadLetters from "./pages/dead-letters.js";
import * as events from "./pages/events.js";
import * as projections from "./pages/projections.js";
import * as traces from "./pages/traces.js";

const main = document.getElementById("main");
const session = document.getElementById("session");
const EXPIRY_CHECK_MS = 5000;

let cleanup = null;
let signInMessage = null;

/** `#/traces/abc?x=1` → {page: "traces", rest: ["abc"], params}. */
function route() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [page = "projections", ...rest] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page, rest, params: new URLSearchParams(query) };
}

const PAGES = {
  projections: (target) => projections.show(target),
  "dead-letters": (target, rest, params) => deadLetters.show(target, rest[0] ?? null, params),
  events: (target, rest, params) => events.show(target, params),
  accounts: (target, rest) => accounts.show(target, rest[0] ?? null),
  traces: (target, rest, params) => traces.show(target, rest[0] ?? null, params),
};

function showSession(claims) {
  if (!claims) {
    session.replaceChildren();
    return;
  }
  const carried = new Set(scopesOf(claims));
  const scopes = [...new Set([...WANTED_SCOPES, ...carried])].map((scope) =>
    h("li", { class: carried.has(scope) ? "scope" : "scope missing", title: carried.has(scope) ? "carried" : "not carried" },
      carried.has(scope) ? scope : `no ${scope}`));
  const expiry = expiryOf(claims);
  fill(session,
    h("span", { class: "who" }, `client ${claims.client_id ?? claims.sub ?? "?"}`),
    expiry ? h("span", { class: "expiry" }, `expires ${time(expiry)}`) : null,
    h("ul", { class: "scopes", "aria-label": "Scopes of the token" }, scopes),
    h("button", { type: "button", class: "quiet", onClick: signOut }, "Sign out"));
}

function signOut() {
  forgetToken();
  signInMessage = null;
  render();
}

function markNavigation(page) {
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function render() {
  if (cleanup) cleanup();
  cleanup = null;
  main.replaceChildren();
  const claims = currentClaims();
  if (!claims || isExpired(claims)) {
    const message = claims ? `Your token expired at ${time(expiryOf(claims))}: paste a new one.` : signInMessage;
    forgetToken();
    showSession(null);
    markNavigation(null);
    login.show(main, { message, signedIn: () => { signInMessage = null; render(); } });
    return;
  }
  showSession(claims);
  const { page, rest, params } = route();
  markNavigation(page);
  const showPage = PAGES[page];
  if (!showPage) {
    main.append(h("h1", {}, "Not found"), notice("error", `There is no console page "${page}".`));
    return;
  }
  cleanup = showPage(main, rest, params) ?? null;
}

onUnauthorized((error) => {
  signInMessage = `The API refused the token (401): ${error.message} Paste a new token.`;
  forgetToken();
  render();
});

window.addEventListener("hashchange", render);
setInterval(() => {
  const claims = currentClaims();
  if (claims && isExpired(claims)) render();
}, EXPIRY_CHECK_MS);
render();
