// Service status: /system/status every few seconds, each service green or red with detail.
import { ApiError, api } from "./api.js";
import { $, ago, startPage } from "./shell.js";

const REFRESH_MS = 3_000;
const LABELS = {
  database: "Database",
  cache: "Cache",
  broker: "MQTT broker",
  ingester: "Ingester",
  celery: "Celery",
};
const list = $("#checks");
const summary = $("#status-summary");
const updated = $("#status-updated");
let timer = null;
let active = false;

function text(tag, className, content) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  element.textContent = content;
  return element;
}

function ingesterFacts(check) {
  const facts = document.createElement("dl");
  facts.className = "facts";
  const add = (term, value) => {
    facts.append(text("dt", "", term), text("dd", "", value));
  };
  const last = check.last_batch_at ? new Date(check.last_batch_at) : null;
  add("Last batch", last ? `${last.toLocaleString()} (${ago(last)})` : "none yet");
  add("Lag", check.lag_seconds == null ? "unknown" : `${Number(check.lag_seconds).toFixed(1)} s`);
  for (const [name, value] of Object.entries(check.counters || {})) {
    add(name.replace(/_/g, " "), String(value));
  }
  return facts;
}

function renderCheck(name, check) {
  const item = document.createElement("li");
  const ok = Boolean(check.ok);
  item.className = `check ${ok ? "ok" : "down"}`;
  item.dataset.check = name;
  item.dataset.ok = String(ok);
  const head = document.createElement("div");
  head.className = "check-head";
  head.append(
    text("span", "dot", ""),
    text("h2", "", LABELS[name] || name),
    text("span", "state", ok ? "OK" : "Down"),
  );
  item.append(head);
  if (check.detail) item.append(text("p", "detail", check.detail));
  // Staff get the details; everyone else sees up or down only.
  if (name === "ingester" && "counters" in check) item.append(ingesterFacts(check));
  return item;
}

function render(checks) {
  const names = [
    ...Object.keys(LABELS).filter((name) => name in checks),
    ...Object.keys(checks).filter((name) => !(name in LABELS)),
  ];
  list.replaceChildren(...names.map((name) => renderCheck(name, checks[name])));
  const down = names.filter((name) => !checks[name].ok).map((name) => LABELS[name] || name);
  summary.textContent = down.length
    ? `Down: ${down.join(", ")}.`
    : "All services are working.";
  summary.className = `status-summary ${down.length ? "down" : "ok"}`;
}

function unreachable(message) {
  summary.textContent = message;
  summary.className = "status-summary down";
  for (const item of list.children) {
    item.classList.replace("ok", "stale");
  }
}

async function poll() {
  timer = null;
  if (!active) return;
  try {
    // A failing dependency may make the endpoint answer 503; its body is still the report.
    const body = await api("/system/status", { accept: [503] });
    render(body.checks || {});
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s.`;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    if (error instanceof ApiError && error.status === 404) {
      unreachable("This server does not report its status (no /system/status).");
    } else {
      unreachable("Cannot reach the server: the status below may be out of date.");
    }
  }
  if (active) timer = setTimeout(poll, REFRESH_MS);
}

startPage({
  onSignedIn: () => {
    active = true;
    if (!timer) poll();
  },
  onSignedOut: () => {
    active = false;
    clearTimeout(timer);
    timer = null;
  },
});
