// Every projection: state, lag, rate, workers, live charts; pause, resume, rebuild.

import { ApiError, describeError, getJson, postJson } from "../api.js";
import { lineChart } from "../charts.js";
import { h, notice } from "../elements.js";
import { number, seconds, time } from "../format.js";

const POLL_MS = 2000;
const WINDOW = 90; // samples: three minutes at one every two seconds
const path = (name, action = "") => `/v1/admin/projections/${encodeURIComponent(name)}${action}`;

/** Events per second: the workers' own rate, or, when no worker reports one, the pace
 * of the projection's position between two polls. */
function throughput(item, previous, now) {
  if (item.workers > 0 && typeof item.events_per_second === "number") {
    return { rate: item.events_per_second, measured: false };
  }
  if (!previous || item.position === null || previous.position === null) return { rate: null, measured: true };
  const rate = Math.max(0, (item.position - previous.position) / ((now - previous.at) / 1000));
  return { rate, measured: true };
}

function stat(label, field) {
  return [h("dt", {}, label), h("dd", { "data-field": field }, "–")];
}

function rebuildText(item) {
  const task = item.rebuild_task;
  const progress = (position, head) =>
    head ? `${number(position)} of ${number(head)} (${Math.floor((100 * position) / Math.max(1, head))}%)` : number(position);
  if (task && task.status === "running") {
    const eta = task.eta_seconds === null ? "" : ` · ETA ${seconds(task.eta_seconds)}`;
    return `Rebuilding (${task.stage ?? "starting"}): ${progress(task.position ?? 0, task.head)} · ` +
      `${number(task.applied)} applied · ${number(task.events_per_second, 1)} ev/s${eta}`;
  }
  if (item.rebuild) {
    return `Rebuilding on another replica (${item.rebuild.stage}): ${progress(item.rebuild.position, item.rebuild.head)}`;
  }
  if (!task) return "";
  if (task.status === "succeeded") {
    return `Last rebuild succeeded at ${time(task.finished_at)}: ${number(task.applied)} events applied, live build ${task.build}.`;
  }
  return `Last rebuild ${task.status} at ${time(task.finished_at)}${task.error ? `: ${task.error}` : "."}`;
}

function rebuildShare(item) {
  const state = item.rebuild_task?.status === "running" ? item.rebuild_task : item.rebuild;
  if (state) return state.head ? Math.min(1, (state.position ?? 0) / Math.max(1, state.head)) : 0;
  return item.rebuild_task?.status === "succeeded" ? 1 : 0;
}

class ProjectionCard {
  constructor(name) {
    this.name = name;
    this.samples = [];
    this.lag = lineChart("Lag", "events", WINDOW);
    this.rate = lineChart("Throughput", "ev/s", WINDOW, 1);
    this.feedback = h("div", { class: "feedback", role: "status", "aria-live": "polite" });
    this.buttons = {
      pause: h("button", { type: "button", "data-action": "pause", onClick: () => this.act("pause") }, "Pause"),
      resume: h("button", { type: "button", "data-action": "resume", onClick: () => this.act("resume") }, "Resume"),
      rebuild: h("button", { type: "button", "data-action": "rebuild", onClick: () => this.confirmRebuild() }, "Rebuild…"),
    };
    this.progress = h("progress", { max: 100, value: 0, "aria-label": `Rebuild progress of ${name}` });
    this.rebuild = h("section", { class: "rebuild", hidden: true, "aria-label": `Rebuild of ${name}` },
      this.progress, h("p", { "data-field": "rebuild-text" }));
    this.element = h("article", { class: "card projection", "data-projection": name, "aria-labelledby": `projection-${name}` },
      h("header", {},
        h("h2", { id: `projection-${name}` }, name),
        h("span", { class: "badge", "data-field": "state" }, "…"),
        h("div", { class: "actions" }, Object.values(this.buttons))),
      h("p", { class: "hint build", "data-field": "collection" }),
      h("p", { class: "problem", "data-field": "message", hidden: true }),
      h("dl", { class: "stats" },
        stat("Position", "position"), stat("Lag", "lag_events"), stat("Lag age", "lag_seconds"),
        stat("Rate", "events_per_second"), stat("Workers", "workers"), stat("Dead letters", "dead_letters")),
      h("div", { class: "charts" }, this.lag.element, this.rate.element),
      this.rebuild,
      this.feedback);
  }

  field(name) {
    return this.element.querySelector(`[data-field="${name}"]`);
  }

  update(item, now) {
    this.item = item;
    const previous = this.samples[this.samples.length - 1];
    const { rate, measured } = throughput(item, previous, now);
    this.samples.push({ at: now, position: item.position, lag: item.lag_events, rate });
    if (this.samples.length > WINDOW) this.samples.shift();
    this.lag.update(this.samples.map((s) => s.lag));
    this.rate.update(this.samples.map((s) => s.rate));

    const state = this.field("state");
    state.textContent = item.state;
    state.className = `badge state-${item.state}`;
    this.element.dataset.state = item.state;
    const message = this.field("message");
    message.hidden = !item.message;
    message.textContent = item.message ?? "";
    this.field("position").textContent = item.position === null ? "none yet" : number(item.position);
    this.field("lag_events").textContent = item.lag_events === null ? "unknown (Kafka?)" : `${number(item.lag_events)} events`;
    this.field("lag_seconds").textContent = seconds(item.lag_seconds);
    const pace = this.field("events_per_second");
    pace.textContent = rate === null ? "–" : `${number(rate, 1)} ev/s`;
    pace.title = measured ? "Measured from the position between polls: no worker reports a rate" : "As the workers report it";
    this.field("workers").textContent = number(item.workers);
    this.field("dead_letters").replaceChildren(
      h("a", { href: `#/dead-letters/${encodeURIComponent(item.name)}` }, `${number(item.dead_letters)} pending`));
    this.field("collection").textContent = `${item.collection} · v${item.version} · generation ${item.generation}`;

    const rebuilding = item.state === "rebuilding" || item.rebuild !== null || item.rebuild_task?.status === "running";
    this.buttons.pause.disabled = this.busy || item.state === "paused";
    this.buttons.resume.disabled = this.busy || item.state !== "paused";
    this.buttons.rebuild.disabled = this.busy || rebuilding;
    const text = rebuildText(item);
    this.rebuild.hidden = !text;
    this.rebuild.dataset.status = item.rebuild_task?.status ?? (item.rebuild ? "running" : "none");
    this.progress.value = Math.round(rebuildShare(item) * 100);
    this.field("rebuild-text").textContent = text;
  }

  setBusy(busy) {
    this.busy = busy;
    for (const button of Object.values(this.buttons)) button.disabled = busy;
    if (!busy && this.item) this.update(this.item, Date.now());
  }

  async act(action) {
    this.setBusy(true);
    this.feedback.replaceChildren(notice("info", action === "pause" ? "Pausing: waiting for the workers to stand down…" : "Resuming…"));
    try {
      const item = await postJson(path(this.name, `/${action}`));
      this.samples.pop(); // the answer replaces the last poll's sample
      this.update(item, Date.now());
      this.feedback.replaceChildren(notice("success", `${this.name} is ${item.state}.`));
    } catch (error) {
      this.feedback.replaceChildren(notice("error", describeError(error)));
    } finally {
      this.setBusy(false);
    }
  }

  confirmRebuild() {
    const start = h("button", { type: "button", class: "primary", "data-action": "confirm-rebuild", onClick: () => this.startRebuild() }, "Start rebuild");
    const cancel = h("button", { type: "button", "data-action": "cancel-rebuild", onClick: () => this.feedback.replaceChildren() }, "Cancel");
    this.feedback.replaceChildren(notice("info",
      `Rebuild ${this.name} from the event store? The current build keeps serving until the switch.`, " ", start, " ", cancel));
    start.focus();
  }

  async startRebuild() {
    this.setBusy(true);
    try {
      await postJson(path(this.name, "/rebuild"), {});
      this.feedback.replaceChildren(notice("success", `Rebuild of ${this.name} started; progress shows below.`));
    } catch (error) {
      this.feedback.replaceChildren(notice("error", describeError(error)));
    } finally {
      this.setBusy(false);
    }
  }
}

/** The projections page; returns its cleanup (stops polling). */
export function show(main) {
  const cards = new Map();
  const grid = h("div", { class: "cards" });
  const status = h("p", { class: "hint", "aria-live": "polite" }, "Loading…");
  const problem = h("div");
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Projections"), status), problem, grid);
  let timer = null;
  let stopped = false;

  async function poll() {
    try {
      const { items } = await getJson("/v1/admin/projections");
      const now = Date.now();
      for (const item of items) {
        if (!cards.has(item.name)) {
          cards.set(item.name, new ProjectionCard(item.name));
          grid.append(cards.get(item.name).element);
        }
        cards.get(item.name).update(item, now);
      }
      problem.replaceChildren();
      status.textContent = `${items.length} projections · updated ${time(new Date(now))} · every ${POLL_MS / 1000} s`;
    } catch (error) {
      problem.replaceChildren(notice("error", describeError(error)));
      status.textContent = "Not updating.";
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return;
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }

  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
