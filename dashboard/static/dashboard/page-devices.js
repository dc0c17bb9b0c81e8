// Devices: add one (its MQTT password is shown once, here), list them with whether they are
// online (from their availability topic, else their readings) and when they last sent a
// reading, and delete them.
import { ApiError, api, listOf } from "./api.js";
import { $, $$, ago, clearErrors, showErrors, startPage } from "./shell.js";

const form = $("#device-form");
const nameInput = form.elements.namedItem("name");
const kindInput = form.elements.namedItem("kind");
const tzInput = form.elements.namedItem("tz");
const list = $("#device-list");
const status = $("#device-status");
const panel = $("#credentials");
const dialog = $("#delete-dialog");
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

// Suggestions for the time zone field; the server checks the name against its tz database.
function fillZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const options = ["UTC", ...zones.filter((zone) => zone !== "UTC")].map((zone) => {
    const option = document.createElement("option");
    option.value = zone;
    return option;
  });
  $("#device-form-tz-zones").replaceChildren(...options);
}

function brokerAddress() {
  let host = panel.dataset.mqttHost;
  // A broker on the server's loopback is reached through the host this page came from.
  if (/^(127\.|localhost$|::1$)/.test(host) && !/^(127\.|localhost$|\[::1\]$)/.test(location.hostname)) {
    host = location.hostname;
  }
  return { host, port: panel.dataset.mqttPort, tls: panel.dataset.mqttTls === "true" };
}

function shellQuote(value) {
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

function showCredentials(device) {
  const username = device.username || device.name;
  const { host, port, tls } = brokerAddress();
  // The first topic the device may publish to without a wildcard level, e.g. "garage/#" ->
  // "garage/temp"; a layout whose every topic has one (Sparkplug) gets no example.
  const publish = device.publish && device.publish.length ? device.publish : [`${device.name}/#`];
  const filter = publish.find((topic) => !topic.split("/").includes("+"));
  $(".credential-device", panel).textContent = device.name;
  $("#credential-username").textContent = username;
  $("#credential-password").textContent = device.password;
  $("#credential-broker").textContent = `${tls ? "mqtts" : "mqtt"}://${host}:${port}`;
  $("#credential-topics").textContent = publish.join("  ");
  $("#credential-example").textContent = filter
    ? [
        `mosquitto_pub -h ${host} -p ${port}${tls ? " --capath /etc/ssl/certs" : ""} -q 1 \\`,
        `  -u ${shellQuote(username)} -P ${shellQuote(device.password)} \\`,
        `  -t ${shellQuote(filter.replace(/#$/, "temp"))} -m '{"value": 21.5}'`,
      ].join("\n")
    : "# This firmware publishes binary payloads: enter this login in the device's MQTT settings.";
  panel.hidden = false;
  panel.focus();
}

function hideCredentials() {
  // The password leaves the page for good.
  $("#credential-password").textContent = "";
  $("#credential-example").textContent = "";
  panel.hidden = true;
}

function deviceItem(device) {
  const item = document.createElement("li");
  item.className = "device";
  item.dataset.device = device.name;
  const name = document.createElement("span");
  name.className = "device-name";
  name.textContent = device.name;
  const state = document.createElement("span");
  state.className = `device-state ${device.online ? "online" : "offline"}`;
  state.textContent = device.online ? "online" : "offline";
  const meta = document.createElement("span");
  meta.className = "device-meta";
  meta.textContent = [device.kind, device.tz].filter(Boolean).join(" · ");
  const seen = document.createElement("span");
  seen.className = "muted device-seen";
  if (device.last_seen) {
    const at = new Date(device.last_seen);
    seen.textContent = `last reading ${ago(at)}`;
    seen.title = at.toLocaleString();
  } else {
    seen.textContent = "no readings yet";
  }
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "button small danger";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${device.name}`);
  remove.addEventListener("click", () => confirmDelete(device.name));
  const reset = document.createElement("button");
  reset.type = "button";
  reset.className = "button small secondary";
  reset.textContent = "New password";
  reset.setAttribute("aria-label", `New MQTT password for ${device.name}`);
  reset.addEventListener("click", () => resetPassword(device.name));
  item.append(name, state, meta, seen, reset, remove);
  return item;
}

async function load() {
  try {
    const devices = listOf(await api("/devices"), "devices");
    list.replaceChildren(...devices.map(deviceItem));
    $("#device-empty").hidden = devices.length > 0;
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) {
      status.textContent = `Could not load your devices: ${error.message}`;
    }
  }
}

async function resetPassword(name) {
  try {
    const credentials = await api(`/devices/${encodeURIComponent(name)}/password`, { method: "POST" });
    showCredentials({ name, ...credentials });
    status.textContent = `${name} has a new password; the old one no longer works.`;
  } catch (error) {
    status.textContent = `Could not give ${name} a new password: ${error.message}`;
  }
}

function confirmDelete(name) {
  $(".delete-name", dialog).textContent = name;
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "delete") return;
    try {
      await api(`/devices/${encodeURIComponent(name)}`, { method: "DELETE" });
      status.textContent = `Deleted ${name}.`;
      if ($(".credential-device", panel).textContent === name) hideCredentials();
    } catch (error) {
      status.textContent = `Could not delete ${name}: ${error.message}`;
    }
    await load();
  };
  dialog.showModal();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = nameInput.value.trim();
  if (!NAME.test(name)) {
    showErrors(form, {
      body: {
        detail: "Please check the device name.",
        name: ["Use 1 to 64 letters, digits, '_' or '-'."],
      },
    });
    return;
  }
  clearErrors(form);
  const button = $("button[type=submit]", form);
  button.disabled = true;
  const kind = kindInput.value;
  const tz = tzInput.value.trim() || "UTC";
  try {
    const body = await api("/devices", { method: "POST", body: { name, kind, tz } });
    const device = body && body.data && !Array.isArray(body.data) ? body.data : body;
    form.reset();
    showCredentials(device);
    await load();
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      error.body = { detail: error.body.detail, name: [`A device named "${name}" already exists.`] };
    }
    showErrors(form, error);
  } finally {
    button.disabled = false;
  }
});

$("#credentials-done").addEventListener("click", () => {
  hideCredentials();
  nameInput.focus();
});

for (const button of $$(".copy")) {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch {
      // No clipboard (plain http from another host): select it for Ctrl+C instead.
      window.getSelection().selectAllChildren(source);
      button.textContent = "Selected";
    }
    setTimeout(() => {
      button.textContent = "Copy";
    }, 2_000);
  });
}

fillZones();

startPage({
  onSignedIn: load,
  onSignedOut: () => {
    hideCredentials();
    list.replaceChildren();
  },
});
