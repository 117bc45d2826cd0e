// Small line charts in inline SVG, written by hand (ADR 0023): a polyline over a rolling
// window is a few dozen lines, where a chart library would need a Node build step in
// `make install` and in the image build, and would put code we did not read on a page
// that holds an admin token.

import { h, svg } from "./elements.js";
import { number } from "./format.js";

const WIDTH = 300;
const HEIGHT = 64;
const MARGIN = 3;

/** A titled chart of the last `capacity` samples; `update(values)` redraws it. */
export function lineChart(title, unit, capacity, fractionDigits = 0) {
  const line = svg("polyline", { class: "line", "vector-effect": "non-scaling-stroke", points: "" });
  const area = svg("polygon", { class: "area", points: "" });
  const grid = [0.25, 0.5, 0.75].map((share) =>
    svg("line", { class: "grid", x1: 0, x2: WIDTH, y1: HEIGHT * share, y2: HEIGHT * share, "vector-effect": "non-scaling-stroke" }));
  const drawing = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": `${title}: no samples yet`,
    "data-points": 0,
  }, grid, area, line);
  const current = h("span", { class: "value" }, "–");
  const peak = h("span", { class: "peak" }, "");
  const figure = h("figure", { class: "chart" },
    h("figcaption", {}, h("span", { class: "title" }, title), current, peak), drawing);

  function update(values) {
    const known = values.filter((v) => typeof v === "number" && Number.isFinite(v));
    const top = Math.max(1, ...known) * 1.1;
    const step = WIDTH / Math.max(1, capacity - 1);
    const offset = capacity - values.length; // newest sample at the right edge
    const points = [];
    values.forEach((value, index) => {
      if (typeof value !== "number" || !Number.isFinite(value)) return;
      const x = (offset + index) * step;
      const y = HEIGHT - MARGIN - (value / top) * (HEIGHT - 2 * MARGIN);
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    });
    line.setAttribute("points", points.join(" "));
    const [first] = points;
    const last = points[points.length - 1];
    area.setAttribute("points", points.length > 1
      ? `${first.split(",")[0]},${HEIGHT} ${points.join(" ")} ${last.split(",")[0]},${HEIGHT}`
      : "");
    drawing.setAttribute("data-points", points.length);
    const latest = known.length ? known[known.length - 1] : null;
    const max = known.length ? Math.max(...known) : null;
    current.textContent = latest === null ? "–" : `${number(latest, fractionDigits)} ${unit}`;
    peak.textContent = max === null ? "" : `max ${number(max, fractionDigits)}`;
    drawing.setAttribute("aria-label", latest === null
      ? `${title}: no samples yet`
      : `${title}: now ${number(latest, fractionDigits)} ${unit}, at most ${number(max, fractionDigits)} over the last ${known.length} samples`);
  }

  return { element: figure, update };
}
