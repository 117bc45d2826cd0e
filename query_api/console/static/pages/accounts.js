// An account's timeline: its events, and its state as of any version.

import { describeError, getJson } from "../api.js";
import { h, notice } from "../elements.js";
import { money, number, short, time } from "../format.js";
import { traceLink } from "../trace-links.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function chooser(accountId) {
  const field = h("input", { id: "account-id", name: "account", value: accountId ?? "", placeholder: "uuid", size: 38, spellcheck: "false", required: true });
  const feedback = h("span", { class: "hint", role: "status" });
  const form = h("form", { class: "filters", "aria-label": "Open an account" },
    h("div", { class: "field" }, h("label", { for: "account-id" }, "Account id"), field),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Show timeline")),
    feedback);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = field.value.trim();
    if (!UUID.test(id)) {
      feedback.textContent = "An account id is a UUID.";
      return;
    }
    window.location.hash = `#/accounts/${id}`;
  });
  return form;
}

function change(event) {
  const data = event.data ?? {};
  if (typeof data.amount === "number") {
    const sign = ["FundsWithdrawn", "TransferDebited"].includes(event.event_type) ? "−" : "+";
    const after = typeof data.balance_after === "number" ? ` → ${money(data.balance_after, data.currency)}` : "";
    return `${sign}${money(data.amount, data.currency)}${after}`;
  }
  if (event.event_type === "AccountOpened") return `${data.currency}, overdraft ${money(data.overdraft_limit ?? 0, data.currency)}`;
  return data.reason ?? "";
}

function stateCard(account, version, latest) {
  return h("section", { class: "panel state", "aria-labelledby": "state-title", "data-version": account.version },
    h("h2", { id: "state-title" }, `State as of version ${version}${version === latest ? " (latest)" : ""}`),
    h("dl", { class: "stats" },
      h("dt", {}, "Balance"), h("dd", { "data-field": "balance", "data-minor-units": account.balance }, money(account.balance, account.currency)),
      h("dt", {}, "Status"), h("dd", { "data-field": "status" }, account.status),
      h("dt", {}, "Overdraft limit"), h("dd", {}, money(account.overdraft_limit, account.currency)),
      h("dt", {}, "Version"), h("dd", { "data-field": "version" }, number(account.version)),
      h("dt", {}, "Log position"), h("dd", {}, number(account.position)),
      h("dt", {}, "Owner"), h("dd", { class: "mono" }, account.owner_id),
      h("dt", {}, "Updated"), h("dd", {}, time(account.updated_at))));
}

function timeline(main, accountId, history) {
  const events = history.events;
  const latest = events.length ? events[events.length - 1].aggregate_version : 1;
  const slider = h("input", { id: "as-of-version", type: "range", min: 1, max: latest, step: 1, value: latest });
  const output = h("output", { for: "as-of-version", id: "as-of-output" }, `version ${latest}`);
  const state = h("div", {}, h("p", { class: "hint" }, "Loading…"));
  let asked = 0;

  const rows = events.map((event) => h("tr", { "data-version": event.aggregate_version },
    h("td", {}, h("button", { type: "button", class: "link", "data-action": "as-of", "aria-label": `State as of version ${event.aggregate_version}`,
      onClick: () => select(event.aggregate_version) }, `v${event.aggregate_version}`)),
    h("td", {}, time(event.occurred_at)),
    h("td", {}, h("span", { class: "event-type" }, event.event_type)),
    h("td", {}, change(event)),
    h("td", { class: "number" }, event.position),
    h("td", {}, traceLink(event))));

  async function select(version) {
    slider.value = version;
    output.textContent = `version ${version}`;
    for (const row of rows) row.classList.toggle("selected", Number(row.dataset.version) === version);
    const ticket = ++asked; // a slow answer for an older choice must not overwrite a newer one
    try {
      const account = await getJson(`/v1/accounts/${accountId}/as-of`, { version });
      if (ticket === asked) state.replaceChildren(stateCard(account, version, latest));
    } catch (error) {
      if (ticket === asked) state.replaceChildren(notice("error", describeError(error)));
    }
  }

  slider.addEventListener("input", () => select(Number(slider.value)));
  main.append(
    h("section", { class: "panel", "aria-labelledby": "timeline-title" },
      h("h2", { id: "timeline-title" }, `Account ${short(accountId)}…`, h("span", { class: "hint mono" }, ` ${accountId}`)),
      h("div", { class: "field slider" }, h("label", { for: "as-of-version" }, "State as of version"), slider, output),
      state,
      h("table", { class: "timeline" },
        h("caption", { class: "visually-hidden" }, "The account's events in version order"),
        h("thead", {}, h("tr", {}, ["Version", "Occurred", "Event", "Change", "Position", "Trace"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows)),
      h("p", {}, h("a", { href: `#/events?aggregate_id=${accountId}` }, "Open these events in the event browser"))));
  select(latest);
}

/** The account page: a chooser, then the timeline of `accountId`. */
export function show(main, accountId) {
  main.append(h("h1", {}, "Account timeline"), chooser(accountId));
  if (!accountId) return;
  const body = h("div", {}, h("p", { class: "hint" }, "Loading…"));
  main.append(body);
  getJson(`/v1/accounts/${encodeURIComponent(accountId)}/history`)
    .then((history) => {
      body.replaceChildren();
      timeline(body, accountId, history);
    })
    .catch((error) => body.replaceChildren(notice("error", describeError(error))));
}
