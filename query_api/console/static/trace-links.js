// From an event to its trace: the W3C traceparent's trace id, else a search by correlation.

import { h } from "./elements.js";

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id of `00-<trace id>-<span id>-<flags>`, or null. */
export function traceIdOf(traceparent) {
  const match = TRACEPARENT.exec(String(traceparent ?? "").trim().toLowerCase());
  return match && !/^0+$/.test(match[1]) ? match[1] : null;
}

export function traceHref(event) {
  const traceId = traceIdOf(event.traceparent);
  if (traceId) return `#/traces/${traceId}`;
  if (event.correlation_id) return `#/traces?correlation_id=${encodeURIComponent(event.correlation_id)}`;
  return null;
}

/** A "trace" link for an event, or a dash when it carries neither traceparent nor correlation. */
export function traceLink(event) {
  const href = traceHref(event);
  if (!href) return h("span", { class: "hint" }, "–");
  const how = traceIdOf(event.traceparent) ? "its trace" : "traces of its correlation id";
  return h("a", { href, class: "trace-link", "aria-label": `Open ${how} (event ${event.position})` }, "trace");
}
