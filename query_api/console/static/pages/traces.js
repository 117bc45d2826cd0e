// Traces: a search by correlation id, and one trace's spans as an indented waterfall.

import { ApiError, describeError, getJson } from "../api.js";
import { h, notice } from "../elements.js";
import { json, number, time } from "../format.js";

const TRACE_ID = /^[0-9a-f]{32}$/;

function explain(error, what) {
  if (error instanceof ApiError && error.status === 404) {
    return notice("error", `No ${what} is known to the trace backend (404). Traces are sampled and kept for a while only; `
      + "the command may be older than that, or was not sampled.", error.problem.detail ? ` ${error.problem.detail}` : "");
  }
  if (error instanceof ApiError && error.status === 503) {
    return notice("error", `The trace backend is unavailable (503). ${error.problem.detail ?? ""} The rest of the console still works; try again shortly.`);
  }
  return notice("error", describeError(error));
}

function search(correlationId) {
  const field = h("input", { id: "correlation-id", name: "correlation_id", value: correlationId ?? "", placeholder: "uuid", size: 38, spellcheck: "false", required: true });
  const form = h("form", { class: "filters", "aria-label": "Search traces" },
    h("div", { class: "field" }, h("label", { for: "correlation-id" }, "Correlation id"), field),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Find traces")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    window.location.hash = `#/traces?correlation_id=${encodeURIComponent(field.value.trim())}`;
  });
  return form;
}

function traceList(found, correlationId) {
  if (!found.traces.length) return notice("info", `No trace carries correlation id ${correlationId}.`);
  return h("table", { class: "traces" },
    h("caption", { class: "visually-hidden" }, `Traces of correlation id ${correlationId}`),
    h("thead", {}, h("tr", {}, ["Trace", "Root span", "Service", "Start", "Duration", "Spans"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, found.traces.map((trace) => h("tr", {},
      h("td", { class: "mono" }, h("a", { href: `#/traces/${trace.trace_id}` }, trace.trace_id)),
      h("td", {}, trace.root_name), h("td", {}, trace.root_service), h("td", {}, time(trace.start)),
      h("td", { class: "number" }, `${number(trace.duration_ms, 1)} ms`), h("td", { class: "number" }, trace.span_count)))));
}

/** Spans in tree order (children by start time), each with its depth; orphans are roots. */
function ordered(spans) {
  const ids = new Set(spans.map((span) => span.span_id));
  const children = new Map();
  for (const span of spans) {
    const parent = span.parent_span_id && ids.has(span.parent_span_id) ? span.parent_span_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(span);
  }
  const byStart = (a, b) => new Date(a.start) - new Date(b.start);
  const out = [];
  const visit = (parent, depth) => {
    for (const span of (children.get(parent) ?? []).sort(byStart)) {
      out.push({ span, depth });
      visit(span.span_id, depth + 1);
    }
  };
  visit(null, 0);
  return out;
}

function waterfall(trace) {
  const starts = trace.spans.map((span) => new Date(span.start).getTime());
  const begin = Math.min(...starts);
  const end = Math.max(...trace.spans.map((span, i) => starts[i] + span.duration_ms));
  const total = Math.max(end - begin, 0.001);
  const detail = h("div", { class: "span-detail" });
  const rows = ordered(trace.spans).map(({ span, depth }) => {
    const bar = h("span", { class: `bar ${span.status === "ERROR" || span.status === "error" ? "failed" : ""}` });
    // CSSOM properties, not a style attribute: the page's policy forbids inline styles.
    bar.style.marginLeft = `${((new Date(span.start).getTime() - begin) / total) * 100}%`;
    bar.style.width = `${Math.max(0.5, (span.duration_ms / total) * 100)}%`;
    const name = h("button", { type: "button", class: "link", onClick: () => detail.replaceChildren(spanDetail(span)) }, span.name);
    name.style.paddingLeft = `${depth * 1.25}rem`;
    return h("tr", { "data-span": span.span_id, "data-depth": depth },
      h("td", { class: "span-name" }, name),
      h("td", {}, h("span", { class: "service" }, span.service)),
      h("td", {}, span.kind ?? ""),
      h("td", { class: "timeline-cell" }, h("span", { class: "track" }, bar)),
      h("td", { class: "number" }, `${number(span.duration_ms, 1)} ms`));
  });
  return h("section", { class: "panel", "aria-labelledby": "trace-title" },
    h("h2", { id: "trace-title" }, `Trace ${trace.trace_id}`),
    h("p", { class: "hint" }, `${trace.spans.length} spans over ${number(total, 1)} ms, from ${time(new Date(begin))}.`),
    h("table", { class: "waterfall" },
      h("caption", { class: "visually-hidden" }, "Spans as a tree, with their place in time"),
      h("thead", {}, h("tr", {}, ["Span", "Service", "Kind", "Time", "Duration"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)),
    detail);
}

function spanDetail(span) {
  return h("div", { class: "panel" },
    h("h3", {}, `${span.service}: ${span.name}`),
    h("p", { class: "hint" }, `span ${span.span_id}${span.parent_span_id ? `, child of ${span.parent_span_id}` : ""}; status ${span.status}`),
    h("pre", {}, json({ attributes: span.attributes, links: span.links })));
}

/** A trace by id, or the traces of `params.correlation_id`, or the search alone. */
export function show(main, traceId, params) {
  const correlationId = params.get("correlation_id");
  main.append(h("h1", {}, "Traces"), search(correlationId));
  const body = h("div", { id: "trace-result" });
  main.append(body);
  if (traceId) {
    if (!TRACE_ID.test(traceId)) {
      body.append(notice("error", "A trace id is 32 lowercase hexadecimal digits."));
      return;
    }
    body.append(h("p", { class: "hint" }, "Loading…"));
    getJson(`/v1/admin/traces/${traceId}`)
      .then((trace) => body.replaceChildren(trace.spans.length ? waterfall(trace) : notice("info", "This trace has no spans.")))
      .catch((error) => body.replaceChildren(explain(error, `trace ${traceId}`)));
  } else if (correlationId) {
    body.append(h("p", { class: "hint" }, "Searching…"));
    getJson("/v1/admin/traces", { correlation_id: correlationId })
      .then((found) => body.replaceChildren(traceList(found, correlationId)))
      .catch((error) => body.replaceChildren(explain(error, `trace with correlation id ${correlationId}`)));
  }
}
