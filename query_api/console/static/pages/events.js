// The event history browser: filters, pages, and following the log live.

import { ApiError, describeError, getJson, request, withQuery } from "../api.js";
import { h, notice } from "../elements.js";
import { eventRow, eventTable } from "../event-rows.js";
import { EVENT_TYPES } from "../event-types.js";
import { fromLocalInput, localInput, time } from "../format.js";

const LIMITS = [25, 50, 100, 250];
const LIVE_ROWS = 500;
const LATEST = "9999-12-31T00:00:00Z";

/** The filters of the page, as the hash carries them. */
function filtersOf(params) {
  const limit = Number(params.get("limit"));
  return {
    aggregate_id: params.get("aggregate_id") ?? "",
    type: params.getAll("type").filter((type) => EVENT_TYPES.includes(type)),
    from: params.get("from") ?? "",
    to: params.get("to") ?? "",
    after: params.get("after") ?? "",
    limit: LIMITS.includes(limit) ? limit : 50,
  };
}

function go(filters) {
  window.location.hash = withQuery("#/events", filters);
}

function filterForm(filters) {
  const aggregate = h("input", { id: "filter-aggregate", name: "aggregate_id", value: filters.aggregate_id, placeholder: "uuid", spellcheck: "false", size: 38 });
  const types = h("select", { id: "filter-types", name: "type", multiple: true, size: 6 },
    EVENT_TYPES.map((type) => h("option", { value: type, selected: filters.type.includes(type) }, type)));
  const from = h("input", { id: "filter-from", type: "datetime-local", step: 1, value: localInput(filters.from) });
  const to = h("input", { id: "filter-to", type: "datetime-local", step: 1, value: localInput(filters.to) });
  const limit = h("select", { id: "filter-limit" }, LIMITS.map((n) => h("option", { value: n, selected: n === filters.limit }, n)));
  const form = h("form", { class: "filters", "aria-label": "Event filters" },
    h("div", { class: "field" }, h("label", { for: "filter-aggregate" }, "Aggregate id"), aggregate),
    h("div", { class: "field" }, h("label", { for: "filter-types" }, "Event types"), types,
      h("span", { class: "hint" }, "Ctrl/⌘-click for several; none selected: all.")),
    h("div", { class: "field" }, h("label", { for: "filter-from" }, "Recorded from"), from),
    h("div", { class: "field" }, h("label", { for: "filter-to" }, "Recorded before"), to),
    h("div", { class: "field" }, h("label", { for: "filter-limit" }, "Per page"), limit),
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary" }, "Apply filters"),
      h("button", { type: "button", onClick: () => go({}) }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go({
      aggregate_id: aggregate.value.trim(),
      type: [...types.selectedOptions].map((option) => option.value),
      from: fromLocalInput(from.value),
      to: fromLocalInput(to.value),
      limit: limit.value,
    });
  });
  return form;
}

/** The log's head: a page recorded from the far future is empty and continues at the head. */
async function head(signal) {
  return (await getJson("/v1/events", { limit: 1, from: LATEST }, signal)).next_after;
}

function pageOf(filters, main) {
  const result = h("section", { "aria-labelledby": "page-title" }, h("p", { class: "hint" }, "Loading…"));
  const query = { ...filters, after: filters.after || 0 };
  (async () => {
    try {
      const page = await getJson("/v1/events", query);
      const nav = h("div", { class: "buttons pager" },
        h("button", { type: "button", disabled: !Number(query.after), onClick: () => go({ ...filters, after: "" }) }, "Oldest"),
        h("button", { type: "button", "data-action": "next-page", disabled: page.events.length < filters.limit, onClick: () => go({ ...filters, after: page.next_after }) }, "Next page"),
        h("button", { type: "button", onClick: async () => {
          try {
            go({ ...filters, after: Math.max(0, (await head()) - filters.limit) });
          } catch (error) {
            result.prepend(notice("error", describeError(error)));
          }
        } }, "Latest positions"));
      result.replaceChildren(
        h("h2", { id: "page-title" }, `Events after position ${query.after}`),
        h("p", { class: "hint", "data-field": "page-count" },
          `${page.events.length} event${page.events.length === 1 ? "" : "s"}; the next page continues after position ${page.next_after}.`),
        page.events.length ? eventTable("Events in log order", page.events.map(eventRow)) : notice("info", "No event matches these filters here."),
        nav);
    } catch (error) {
      result.replaceChildren(notice("error", describeError(error)));
    }
  })();
  main.append(result);
}

/** Follow the log with `fetch` and a stream reader (NDJSON); returns its stop function. */
function follower(filters) {
  const status = h("p", { class: "hint", "data-field": "follow-status", "aria-live": "polite" }, "Not following.");
  const table = eventTable("Live events, newest first", []);
  const rows = table.tBodies[0];
  const start = h("button", { type: "button", class: "primary", "data-action": "follow" }, "Follow live");
  const stop = h("button", { type: "button", "data-action": "stop", disabled: true }, "Stop");
  const section = h("section", { class: "panel follow", "aria-labelledby": "follow-title", "data-following": "false" },
    h("div", { class: "page-head" }, h("h2", { id: "follow-title" }, "Live"), h("div", { class: "buttons" }, start, stop)),
    h("p", { class: "hint" }, "New events matching the aggregate and type filters, newest first, as they are recorded."),
    status,
    table);
  let controller = null;

  function setFollowing(following, text) {
    section.dataset.following = String(following);
    start.disabled = following;
    stop.disabled = !following;
    status.textContent = text;
  }

  function take(line) {
    const item = JSON.parse(line);
    if ("heartbeat" in item) {
      status.textContent = `Following live after position ${item.after} · last heartbeat ${time(item.heartbeat)}`;
      return;
    }
    rows.prepend(eventRow(item));
    while (rows.children.length > LIVE_ROWS) rows.lastElementChild.remove();
  }

  async function follow() {
    controller = new AbortController();
    setFollowing(true, "Connecting…");
    try {
      const after = await head(controller.signal);
      const params = { follow: "true", after, aggregate_id: filters.aggregate_id, type: filters.type };
      const response = await request("/v1/events/stream", { params, signal: controller.signal, accept: "application/x-ndjson" });
      status.textContent = `Following live after position ${after} since ${time(new Date())}.`;
      section.dataset.live = "true";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, end).trim();
          buffer = buffer.slice(end + 1);
          if (line) take(line);
        }
      }
      setFollowing(false, "The stream ended (the server closed it).");
    } catch (error) {
      if (error.name === "AbortError") setFollowing(false, "Stopped.");
      else {
        setFollowing(false, "");
        status.replaceChildren(notice("error", error instanceof ApiError ? describeError(error) : `The stream broke: ${error.message}`));
      }
    } finally {
      section.dataset.live = "false";
      controller = null;
    }
  }

  const halt = () => controller?.abort();
  start.addEventListener("click", follow);
  stop.addEventListener("click", halt);
  return { element: section, halt };
}

/** The events page; returns its cleanup (ends a live follow). */
export function show(main, params) {
  const filters = filtersOf(params);
  main.append(h("h1", {}, "Event history"), filterForm(filters));
  const live = follower(filters);
  main.append(live.element);
  pageOf(filters, main);
  return live.halt;
}
