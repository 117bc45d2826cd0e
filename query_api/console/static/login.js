// The sign-in page: the operator pastes a client-credentials token (ADR 0023 says why).

import { cleanToken, decodeToken, isExpired, saveToken, TokenFormatError, WANTED_SCOPES } from "./auth.js";
import { h, notice } from "./elements.js";

const ORIGIN = window.location.origin;

function howToGetAToken() {
  const commands = [
    `ledger auth create-client --name operator \\`,
    `    --scopes "${WANTED_SCOPES.join(" ")}"`,
    `curl --cacert .stack/nginx/tls/gateway.crt -u "$CLIENT_ID:$CLIENT_SECRET" \\`,
    `    -d grant_type=client_credentials ${ORIGIN}/oauth/token`,
  ].join("\n");
  return h("details", { class: "help" },
    h("summary", {}, "How do I get a token?"),
    h("p", {}, "Register a client with the local issuer once, then ask for a token with the client-credentials grant; paste the ",
      h("code", {}, "access_token"), " of the answer here."),
    h("pre", {}, commands),
    h("p", {}, "The token lives in this tab's session storage only and expires on its own (the issuer's token lifetime)."));
}

/** Show the form; `signedIn()` is called once a readable, unexpired token is stored. */
export function show(main, { message, signedIn }) {
  const field = h("textarea", {
    id: "token", name: "token", rows: 5, required: true, spellcheck: "false", autocomplete: "off",
    "aria-describedby": "token-hint",
  });
  const feedback = h("div", { id: "login-feedback" }, message ? notice("error", message) : null);
  const form = h("form", { class: "panel login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in with a bearer token"),
    h("label", { for: "token" }, "Access token"),
    field,
    h("p", { id: "token-hint", class: "hint" },
      `For all pages the token needs the scopes ${WANTED_SCOPES.join(", ")}.`),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Use this token")),
    feedback,
    howToGetAToken());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = cleanToken(field.value);
    try {
      const claims = decodeToken(token);
      if (isExpired(claims)) {
        feedback.replaceChildren(notice("error", "This token has expired: ask the issuer for a new one."));
        return;
      }
    } catch (error) {
      if (!(error instanceof TokenFormatError)) throw error;
      feedback.replaceChildren(notice("error", `This is not a token the console can read. ${error.message}`));
      return;
    }
    saveToken(token);
    signedIn();
  });
  main.append(form);
  field.focus();
}
