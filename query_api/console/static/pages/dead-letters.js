// A projection's dead letters: list, read one, retry, discard.

import { describeError, getJson, postJson } from "../api.js";
import { fill, h, notice } from "../elements.js";
import { json, number, time } from "../format.js";

const NOT_EVENTS = "*"; // letters of records that were not Ledger events: discard only
const STATUSES = ["pending", "retried", "discarded"];
const lettersPath = (name, action = "") => `/v1/admin/projections/${encodeURIComponent(name)}/dead-letters${action}`;

function go(name, status) {
  window.location.hash = `#/dead-letters/${encodeURIComponent(name)}${status === "pending" ? "" : `?status=${status}`}`;
}

function chooser(names, name, status) {
  const projection = h("select", { id: "letters-projection", onChange: () => go(projection.value, statusField.value) },
    [...names, NOT_EVENTS].map((option) => h("option", { value: option, selected: option === name },
      option === NOT_EVENTS ? "* (records that were not events)" : option)));
  const statusField = h("select", { id: "letters-status", onChange: () => go(projection.value, statusField.value) },
    STATUSES.map((option) => h("option", { value: option, selected: option === status }, option)));
  return h("form", { class: "filters", onSubmit: (event) => event.preventDefault() },
    h("div", { class: "field" }, h("label", { for: "letters-projection" }, "Projection"), projection),
    h("div", { class: "field" }, h("label", { for: "letters-status" }, "Status"), statusField));
}

function detail(letter) {
  return h("section", { class: "panel letter-detail", "aria-labelledby": "letter-title", "data-letter": letter.id },
    h("h2", { id: "letter-title" }, `Letter ${letter.id}`),
    h("dl", { class: "stats" },
      h("dt", {}, "Status"), h("dd", {}, letter.status),
      h("dt", {}, "Attempts"), h("dd", {}, number(letter.attempts)),
      h("dt", {}, "First failed"), h("dd", {}, time(letter.first_failed_at)),
      h("dt", {}, "Last failed"), h("dd", {}, time(letter.last_failed_at)),
      letter.retried_at ? [h("dt", {}, "Retried"), h("dd", {}, time(letter.retried_at))] : null,
      letter.discarded_at ? [h("dt", {}, "Discarded"), h("dd", {}, time(letter.discarded_at))] : null),
    h("h3", {}, "Error"), h("pre", { class: "error-text" }, letter.error),
    h("h3", {}, letter.projection === NOT_EVENTS ? "Record" : "Event"), h("pre", {}, json(letter.event)));
}

function retryMessage(report) {
  const still = report.failed.length;
  const text = `Retried: ${report.retried} applied, ${still} still failing.`;
  if (!still) return notice("success", text);
  return notice("error", text, h("ul", {}, report.failed.map((failure) => h("li", {}, `${failure.id}: ${failure.error}`))));
}

/** The dead letters of `name` (default: the first projection), in `params.status`. */
export function show(main, name, params) {
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "pending";
  const feedback = h("div", { class: "feedback", role: "status", "aria-live": "polite" });
  const body = h("div", {}, h("p", { class: "hint" }, "Loading…"));
  const viewer = h("div");
  main.append(h("h1", {}, "Dead letters"), h("div", { id: "letters-chooser" }), feedback, body, viewer);
  let selected = name;

  async function act(action, ids) {
    feedback.replaceChildren(notice("info", action === "retry" ? "Retrying…" : "Discarding…"));
    try {
      const report = await postJson(lettersPath(selected, `/${action}`), ids ? { ids } : {});
      feedback.replaceChildren(action === "retry"
        ? retryMessage(report)
        : notice("success", `Discarded ${report.discarded} letter${report.discarded === 1 ? "" : "s"}.`));
    } catch (error) {
      feedback.replaceChildren(notice("error", describeError(error)));
    }
    await load();
  }

  function row(letter) {
    const pending = letter.status === "pending";
    const event = letter.event ?? {};
    return h("tr", { "data-letter": letter.id },
      h("td", {}, event.event_type ?? "(not an event)", event.position !== undefined ? h("div", { class: "hint" }, `position ${event.position}`) : null),
      h("td", { class: "mono" }, event.aggregate_id ?? "–"),
      h("td", { class: "number" }, number(letter.attempts)),
      h("td", {}, time(letter.last_failed_at)),
      h("td", { class: "error-text" }, letter.error.length > 120 ? `${letter.error.slice(0, 120)}…` : letter.error),
      h("td", { class: "row-actions" },
        h("button", { type: "button", "data-action": "view", onClick: () => viewer.replaceChildren(detail(letter)) }, "View"),
        pending && selected !== NOT_EVENTS ? h("button", { type: "button", "data-action": "retry", onClick: () => act("retry", [letter.id]) }, "Retry") : null,
        pending ? h("button", { type: "button", "data-action": "discard", onClick: () => act("discard", [letter.id]) }, "Discard") : null));
  }

  async function load() {
    try {
      const letters = await getJson(lettersPath(selected), { status, limit: 200 });
      const bulk = status === "pending" && letters.items.length > 0
        ? h("div", { class: "buttons" },
          selected !== NOT_EVENTS ? h("button", { type: "button", "data-action": "retry-all", onClick: () => act("retry", null) }, "Retry all pending") : null,
          h("button", { type: "button", "data-action": "discard-all", onClick: () => act("discard", null) }, "Discard all pending"))
        : null;
      // fill, not replaceChildren: the DOM's own would show the absent parts as "null".
      fill(body,
        h("p", { class: "hint" }, `${letters.items.length} ${status} letter${letters.items.length === 1 ? "" : "s"} of ${selected}, oldest failure first.`,
          selected === NOT_EVENTS ? " These records were not Ledger events: there is nothing to apply again, only to discard." : ""),
        bulk,
        letters.items.length ? h("table", { class: "letters" },
          h("caption", { class: "visually-hidden" }, `Dead letters of ${selected}`),
          h("thead", {}, h("tr", {}, ["Event", "Aggregate", "Attempts", "Last failure", "Error", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, letters.items.map(row))) : null);
    } catch (error) {
      body.replaceChildren(notice("error", describeError(error)));
    }
  }

  (async () => {
    let names = [];
    try {
      names = (await getJson("/v1/admin/projections")).items.map((item) => item.name);
    } catch (error) {
      body.replaceChildren(notice("error", describeError(error)));
      return;
    }
    selected = selected ?? names[0] ?? NOT_EVENTS;
    main.querySelector("#letters-chooser").replaceChildren(chooser(names, selected, status));
    await load();
  })();
}
