// Dashboard: the user's devices and topics with their last value and age, and one live chart
// per topic. Short ranges plot raw readings; long ones plot bucketed aggregates from the API.
// While the range ends "now", new readings are polled every POLL_MS and appended.
// Series names may hold any character but '/' (spaces, ':', '=', non-ASCII): every API path
// carries them through encodeURIComponent. Each series' unit (as the API gives it) is shown
// next to its values and on its chart's axis.
import { ApiError, api, listOf } from "./api.js";
import { createChart, resizeChart, withGaps } from "./charts.js";
import { $, ago, startPage } from "./shell.js";

const POLL_MS = 2_000;
const TOPICS_EVERY = 5; // refresh the topic list every 5th poll
const RAW_MAX_SECONDS = 3_600;
const PAGE_LIMIT = Math.min(1_000, Number($("#charts").dataset.pageMax) || 100);
const MAX_PAGES = 10;
const TARGET_BUCKETS = 400;
const SPANS = { quarter: 900, hour: 3_600, day: 86_400, week: 604_800 };
const BUCKETS = [
  ["1m", 60], ["5m", 300], ["15m", 900], ["30m", 1_800], ["1h", 3_600],
  ["3h", 10_800], ["6h", 21_600], ["12h", 43_200], ["1d", 86_400],
];

const views = new Map(); // topic -> TopicView
let range = { kind: "quarter" };
let generation = 0;
let pollTimer = null;
let tickTimer = null;
let polls = 0;
let active = false;
let devices = [];
let topics = [];

/** Epoch microseconds of an ISO 8601 date, keeping the digits Date.parse drops. */
function micros(iso) {
  const fraction = /\.(\d+)/.exec(iso);
  const extra = fraction ? Number((fraction[1] + "000000").slice(3, 6)) : 0;
  return Date.parse(iso) * 1000 + extra;
}

function windowNow() {
  if (range.kind === "custom") return { start: range.start, end: range.end, live: false };
  const end = new Date();
  return { start: new Date(end.getTime() - SPANS[range.kind] * 1000), end, live: true };
}

function bucketFor(seconds) {
  if (seconds <= RAW_MAX_SECONDS) return null;
  return BUCKETS.find(([, size]) => seconds / size <= TARGET_BUCKETS) || BUCKETS.at(-1);
}

function readingsPath(topic, params) {
  return `/iot/${encodeURIComponent(topic)}/readings?${new URLSearchParams(params)}`;
}

function samePath(url) {
  const parsed = new URL(url, window.location.href);
  return parsed.pathname + parsed.search;
}

/** Rows of every page, following ``next`` up to MAX_PAGES, and the series' unit. */
async function fetchRows(path) {
  const rows = [];
  let next = path;
  let unit;
  for (let page = 0; next && page < MAX_PAGES; page += 1) {
    const body = await api(next);
    rows.push(...listOf(body));
    if (body && "unit" in body) unit = body.unit;
    next = body.next ? samePath(body.next) : null;
  }
  return { rows, unit };
}

/**
 * Run ``task`` on every view; one topic that fails (a refused name, a server error) marks its
 * own card and leaves the others drawn. A 401 still reaches the caller (signed out).
 */
async function eachView(views, task) {
  const results = await Promise.allSettled(views.map((view) => task(view)));
  let signedOut = null;
  results.forEach((result, i) => {
    if (result.status === "fulfilled") return;
    const error = result.reason;
    if (error instanceof ApiError && error.status === 401) signedOut = error;
    else views[i].points.textContent = `Could not load ${views[i].topic}: ${error.message}`;
  });
  if (signedOut) throw signedOut;
}

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

class TopicView {
  constructor(topic, index) {
    this.topic = topic;
    this.index = index;
    this.card = $("#chart-card").content.firstElementChild.cloneNode(true);
    this.card.dataset.topic = topic;
    $(".topic-name", this.card).textContent = topic;
    this.chartElement = $(".chart", this.card);
    this.points = $(".points", this.card);
    $(".csv", this.card).addEventListener("click", () => this.downloadCsv());
    $(".csv", this.card).setAttribute("aria-label", `Download CSV of ${topic}`);
    this.chart = null;
    this.latest = null; // {date: Date, value}
    this.unit = null;
  }

  /** The unit the API gives for this series (null: none); a change redraws the axis. */
  setUnit(unit) {
    if (unit === undefined || (unit ?? null) === this.unit) return;
    this.unit = unit ?? null;
    this.showUnit();
    if (this.chart && this.columns) {
      this.rebuildChart();
      this.redraw();
    }
  }

  /** Load the chart for the current range; ``loadedUntil`` is where polling takes over. */
  async load({ start, end, live }) {
    const seconds = (end - start) / 1000;
    this.span = { seconds, start: start.getTime() / 1000, end: end.getTime() / 1000, live };
    this.bucket = bucketFor(seconds);
    this.columns = this.bucket ? [[], [], [], [], []] : [[], []]; // x, avg, min, max, count
    const params = { start: start.toISOString(), end: end.toISOString(), limit: PAGE_LIMIT };
    if (this.bucket) {
      Object.assign(params, { bucket: this.bucket[0], agg: "avg,min,max,count", order: "asc" });
    }
    // Newest first when raw, so a capped load keeps the most recent readings.
    const { rows, unit } = await fetchRows(readingsPath(this.topic, params));
    if (unit !== undefined) this.unit = unit ?? null;
    this.showUnit();
    rows.sort((a, b) => micros(a.date) - micros(b.date));
    this.cursor = { iso: end.toISOString(), micros: end.getTime() * 1000 - 1 };
    this.rebuildChart();
    if (this.bucket) {
      for (const row of rows) {
        if (!isNumber(row.avg)) continue;
        this.columns[0].push(micros(row.date) / 1e6);
        this.columns[1].push(row.avg);
        this.columns[2].push(isNumber(row.min) ? row.min : row.avg);
        this.columns[3].push(isNumber(row.max) ? row.max : row.avg);
        this.columns[4].push(isNumber(row.count) ? row.count : 1);
      }
    } else {
      this.appendRaw(rows);
      const last = rows.at(-1);
      if (last) this.cursor = { iso: last.date, micros: micros(last.date) };
    }
    this.redraw();
  }

  rebuildChart() {
    if (this.chart) this.chart.destroy();
    this.chartElement.replaceChildren();
    this.chart = createChart({
      element: this.chartElement,
      label: this.topic,
      unit: this.unit,
      bucketed: Boolean(this.bucket),
      index: this.index,
      xRange: () => this.xRange(),
    });
  }

  xRange() {
    if (!this.span.live) return [this.span.start, this.span.end];
    const now = Date.now() / 1000;
    return [now - this.span.seconds, now];
  }

  appendRaw(rows) {
    for (const row of rows) {
      if (!isNumber(row.value)) continue;
      this.columns[0].push(micros(row.date) / 1e6);
      this.columns[1].push(row.value);
    }
  }

  /** Fold new raw readings into the aggregate buckets (avg weighted by count). */
  foldIntoBuckets(rows) {
    const size = this.bucket[1];
    const [xs, avg, min, max, count] = this.columns;
    for (const row of rows) {
      if (!isNumber(row.value)) continue;
      const x = Math.floor(micros(row.date) / 1e6 / size) * size;
      const last = xs.length - 1;
      if (last >= 0 && xs[last] === x) {
        avg[last] = (avg[last] * count[last] + row.value) / (count[last] + 1);
        min[last] = Math.min(min[last], row.value);
        max[last] = Math.max(max[last], row.value);
        count[last] += 1;
      } else if (last < 0 || x > xs[last]) {
        xs.push(x);
        avg.push(row.value);
        min.push(row.value);
        max.push(row.value);
        count.push(1);
      }
    }
  }

  /** New readings since the cursor; they move the latest value and extend the chart. */
  async poll(windowStart) {
    const params = { start: this.cursor.iso, order: "asc", limit: PAGE_LIMIT };
    const columns = this.columns;
    const body = await api(readingsPath(this.topic, params));
    const rows = listOf(body).filter((row) => micros(row.date) > this.cursor.micros);
    // A range change reloaded this chart meanwhile: these rows belong to the old one.
    if (columns !== this.columns) return;
    this.setUnit(body.unit);
    if (!rows.length) return;
    rows.sort((a, b) => micros(a.date) - micros(b.date));
    const last = rows.at(-1);
    this.cursor = { iso: last.date, micros: micros(last.date) };
    this.setLatest({ date: new Date(last.date), value: last.value ?? last.text });
    if (this.bucket) this.foldIntoBuckets(rows);
    else this.appendRaw(rows);
    this.trim(windowStart);
    this.redraw();
  }

  trim(windowStart) {
    const floor = this.bucket
      ? Math.floor(windowStart.getTime() / 1000 / this.bucket[1]) * this.bucket[1]
      : windowStart.getTime() / 1000;
    const drop = this.columns[0].findIndex((x) => x >= floor);
    const count = drop < 0 ? this.columns[0].length : drop;
    if (count > 0) for (const column of this.columns) column.splice(0, count);
  }

  setLatest(latest) {
    if (!latest || !latest.date || Number.isNaN(latest.date.getTime())) return;
    if (this.latest && this.latest.date >= latest.date) return;
    this.latest = latest;
    this.tick();
  }

  /** The unit on the card (``data-unit`` too), beside the latest value when it is a number. */
  showUnit() {
    if (this.unit) this.card.dataset.unit = this.unit;
    else delete this.card.dataset.unit;
    const numeric = !this.latest || isNumber(this.latest.value);
    $(".latest-unit", this.card).textContent = this.unit && numeric ? this.unit : "";
  }

  tick() {
    if (!this.latest) return;
    $(".latest-value", this.card).textContent = formatValue(this.latest.value);
    this.showUnit();
    $(".latest-age", this.card).textContent = ago(this.latest.date);
  }

  redraw() {
    const data = this.bucket ? this.columns.slice(0, 4) : this.columns;
    this.chart.setData(withGaps(data));
    const n = this.columns[0].length;
    this.card.dataset.points = String(n);
    const what = this.bucket ? `${this.bucket[0]} buckets` : "readings";
    this.points.textContent = n ? `${n.toLocaleString()} ${what}` : "No readings in this range";
    const from = n ? new Date(this.columns[0][0] * 1000).toLocaleString() : "";
    const to = n ? new Date(this.columns[0][n - 1] * 1000).toLocaleString() : "";
    this.chartElement.setAttribute(
      "aria-label",
      n
        ? `Chart of ${this.topic}${this.unit ? ` in ${this.unit}` : ""}: ${n} ${what} from ${from} to ${to}`
        : `Chart of ${this.topic}: no readings in this range`,
    );
  }

  async downloadCsv() {
    const button = $(".csv", this.card);
    const { start, end } = windowNow();
    button.disabled = true;
    try {
      const params = { start: start.toISOString(), end: end.toISOString(), format: "csv" };
      const response = await api(readingsPath(this.topic, params), { raw: true });
      const blob = await response.blob();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      const stamp = start.toISOString().slice(0, 19).replace(/[-:]/g, "");
      link.download = `${this.topic}_${stamp}.csv`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (error) {
      $("#live-state").textContent = `CSV download failed: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }
}

function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

function formatValue(value) {
  return isNumber(value)
    ? value.toLocaleString(undefined, { maximumFractionDigits: 3 })
    : String(value ?? "–");
}

/** A value with its series' unit: "21.7 °C"; text values and unknown units stand alone. */
function withUnit(value, unit) {
  const shown = formatValue(value);
  return unit && isNumber(value) ? `${shown} ${unit}` : shown;
}

/** One group per device: a heading row, then a row per topic with its last value and age. */
function renderDeviceTable() {
  const byDevice = new Map(devices.map((device) => [device.name, []]));
  for (const topic of topics) {
    const device = topic.topic.split(".")[0];
    if (!byDevice.has(device)) byDevice.set(device, []);
    byDevice.get(device).push(topic.topic);
  }
  const groups = [];
  for (const [device, names] of [...byDevice].sort(([a], [b]) => a.localeCompare(b))) {
    const group = document.createElement("tbody");
    group.dataset.device = device;
    const head = document.createElement("tr");
    const title = cell("th", device, "device-row");
    title.scope = "colgroup";
    title.colSpan = 3;
    head.append(title);
    group.append(head);
    if (!names.length) {
      const row = document.createElement("tr");
      const empty = cell("td", "No readings yet", "muted");
      empty.colSpan = 3;
      row.append(empty);
      group.append(row);
    }
    for (const name of names) {
      const view = views.get(name);
      const latest = view?.latest;
      const row = document.createElement("tr");
      row.dataset.topic = name;
      const topicCell = cell("th", name, "topic-cell");
      topicCell.scope = "row";
      row.append(
        topicCell,
        cell("td", latest ? withUnit(latest.value, view.unit) : "–", "value-cell"),
        cell("td", latest ? ago(latest.date) : "–", "age-cell"),
      );
      group.append(row);
    }
    groups.push(group);
  }
  const table = $("#device-table");
  for (const old of table.querySelectorAll("tbody")) old.remove();
  table.append(...groups);
  table.hidden = groups.length === 0;
  $("#devices-empty").hidden = groups.length > 0;
}

async function loadTopics() {
  const [deviceBody, topicBody] = await Promise.all([api("/devices"), api("/iot")]);
  devices = listOf(deviceBody, "devices");
  topics = listOf(topicBody, "topics").sort((a, b) => a.topic.localeCompare(b.topic));
  $("#topics-empty").hidden = topics.length > 0;
  const added = [];
  for (const topic of topics) {
    let view = views.get(topic.topic);
    if (!view) {
      view = new TopicView(topic.topic, views.size);
      views.set(topic.topic, view);
      added.push(view);
    }
    view.setUnit(topic.unit);
    if (topic.last_date) view.setLatest({ date: new Date(topic.last_date), value: topic.last_value });
  }
  if (added.length) {
    const container = $("#charts");
    for (const view of [...views.values()].sort((a, b) => a.topic.localeCompare(b.topic))) {
      container.append(view.card);
    }
    const current = generation;
    const span = windowNow();
    await eachView(added, (view) => view.load(span));
    if (current !== generation) return;
  }
  renderDeviceTable();
}

function describeRange() {
  const state = $("#live-state");
  if (range.kind === "custom") {
    state.textContent = `Fixed range ${range.start.toLocaleString()} – ${range.end.toLocaleString()}`;
    state.dataset.live = "false";
  } else {
    state.textContent = `Live: new readings appear within ${POLL_MS / 1000} seconds`;
    state.dataset.live = "true";
  }
}

async function pollOnce() {
  pollTimer = null;
  if (!active) return;
  const current = generation;
  try {
    polls += 1;
    if (polls % TOPICS_EVERY === 0) await loadTopics();
    const span = windowNow();
    if (span.live && document.visibilityState !== "hidden") {
      await eachView([...views.values()], (view) => view.chart && view.poll(span.start));
      renderDeviceTable();
    }
    if (current === generation) describeRange();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    $("#live-state").textContent = `Updates paused: ${error.message} Retrying…`;
  }
  if (active) pollTimer = setTimeout(pollOnce, POLL_MS);
}

async function showRange() {
  generation += 1;
  const current = generation;
  const span = windowNow();
  $("#live-state").textContent = "Loading…";
  try {
    await eachView([...views.values()], (view) => view.load(span));
  } catch (error) {
    if (current === generation) $("#live-state").textContent = `Could not load readings: ${error.message}`;
    return;
  }
  if (current === generation) {
    describeRange();
    renderDeviceTable();
  }
}

function localInputValue(date) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 19);
}

function wireRangePicker() {
  const form = $("#range");
  const custom = $("#custom-range");
  const error = $(".form-error", form);
  form.addEventListener("change", (event) => {
    if (event.target.name !== "range") return;
    error.textContent = "";
    custom.hidden = event.target.value !== "custom";
    if (event.target.value === "custom") {
      if (!form.elements.start.value) {
        const end = new Date();
        form.elements.end.value = localInputValue(end);
        form.elements.start.value = localInputValue(new Date(end.getTime() - SPANS.day * 1000));
      }
      form.elements.start.focus();
      return;
    }
    range = { kind: event.target.value };
    showRange();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const start = new Date(form.elements.start.value);
    const end = new Date(form.elements.end.value);
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || start >= end) {
      error.textContent = "Choose a start before the end.";
      error.focus();
      return;
    }
    error.textContent = "";
    range = { kind: "custom", start, end };
    showRange();
  });
}

function stop() {
  active = false;
  clearTimeout(pollTimer);
  clearInterval(tickTimer);
  pollTimer = null;
}

wireRangePicker();
new ResizeObserver(() => {
  for (const view of views.values()) if (view.chart) resizeChart(view.chart, view.chartElement);
}).observe($("#charts"));

startPage({
  onSignedIn: async () => {
    active = true;
    describeRange();
    try {
      await loadTopics();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        $("#live-state").textContent = `Could not load your topics: ${error.message}`;
      }
    }
    clearInterval(tickTimer);
    tickTimer = setInterval(() => {
      for (const view of views.values()) view.tick();
      renderDeviceTable();
    }, 1_000);
    if (!pollTimer) pollTimer = setTimeout(pollOnce, POLL_MS);
  },
  onSignedOut: stop,
});
