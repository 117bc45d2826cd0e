// One event as a table row, shared by the event browser and its live follow.

import { h } from "./elements.js";
import { json, short, time } from "./format.js";
import { ACCOUNT_EVENT_TYPES } from "./event-types.js";
import { traceLink } from "./trace-links.js";

export const EVENT_COLUMNS = ["Position", "Occurred", "Type", "Aggregate", "Version", "Data", "Trace"];

export function eventRow(event) {
  const aggregate = ACCOUNT_EVENT_TYPES.includes(event.event_type)
    ? h("a", { href: `#/accounts/${event.aggregate_id}`, title: event.aggregate_id }, short(event.aggregate_id))
    : h("span", { class: "mono", title: event.aggregate_id }, short(event.aggregate_id));
  return h("tr", { "data-position": event.position, "data-type": event.event_type, "data-aggregate": event.aggregate_id },
    h("td", { class: "number" }, event.position),
    h("td", {}, time(event.occurred_at)),
    h("td", {}, h("span", { class: "event-type" }, event.event_type)),
    h("td", { class: "mono" }, aggregate),
    h("td", { class: "number" }, event.aggregate_version),
    h("td", {}, h("details", {}, h("summary", {}, summary(event.data)), h("pre", {}, json(event)))),
    h("td", {}, traceLink(event)));
}

function summary(data) {
  const text = Object.entries(data ?? {}).map(([key, value]) => `${key}=${value}`).join(" ");
  return text.length > 60 ? `${text.slice(0, 60)}…` : text || "(no fields)";
}

export function eventTable(caption, rows) {
  return h("table", { class: "events" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, EVENT_COLUMNS.map((column) => h("th", { scope: "col" }, column)))),
    h("tbody", {}, rows));
}
