// What every page shares: the navigation for the signed-in state, the restricted area,
// sign-out, and showing an API error on a form.
import { api, logout, onAuthChange, restoreSession } from "./api.js";

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

function showSignedIn(signedIn) {
  for (const element of $$("[data-when]")) {
    element.hidden = (element.dataset.when === "signed-in") !== signedIn;
  }
  if (document.body.dataset.restricted === "true") {
    $("#restricted").hidden = signedIn;
    $("#content").hidden = !signedIn;
  }
  document.body.dataset.auth = signedIn ? "signed-in" : "signed-out";
}

async function showUser() {
  try {
    const { data } = await api("/auth/me");
    $("#whoami").textContent = data.username || data.email;
  } catch {
    // the name in the header is a nicety; the page works without it
  }
}

/**
 * Resume the session, then call ``onSignedIn`` (also after a later sign-in) or
 * ``onSignedOut`` (also when the session ends while the page is open: sign-out in another
 * tab, or a revoked refresh token).
 */
export async function startPage({ onSignedIn = () => {}, onSignedOut = () => {} } = {}) {
  const signOut = $("#sign-out");
  signOut.addEventListener("click", async () => {
    signOut.disabled = true;
    try {
      await logout();
    } catch {
      // the access token is forgotten anyway; the server clears the cookie when it can
    }
    window.location.assign("/login?signed_out=1");
  });
  const signedIn = await restoreSession();
  showSignedIn(signedIn);
  onAuthChange((now) => {
    showSignedIn(now);
    (now ? onSignedIn : onSignedOut)();
  });
  if (signedIn) {
    showUser();
    await onSignedIn();
  } else {
    await onSignedOut();
  }
  document.body.dataset.ready = "true";
}

/** A same-site path to go to after signing in, from ``?next=``; never another origin. */
export function nextPath(fallback = "/dashboard") {
  const next = new URLSearchParams(window.location.search).get("next");
  return next && /^\/(?!\/)[\w\-/]*$/.test(next) ? next : fallback;
}

export function clearErrors(form) {
  for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
  for (const message of $$(".field-error, .form-error", form)) message.textContent = "";
}

/** Field errors under their inputs, anything else at the top of the form. */
export function showErrors(form, error) {
  clearErrors(form);
  const body = error.body || {};
  let first = null;
  for (const [field, messages] of Object.entries(body)) {
    if (field === "detail") continue;
    const input = form.elements.namedItem(field);
    const slot = $(`#${form.id}-${field}-error`);
    if (!input || !slot) continue;
    input.setAttribute("aria-invalid", "true");
    slot.textContent = [].concat(messages).join(" ");
    first = first || input;
  }
  let summary = body.detail || error.message;
  if (error.status === 429) {
    summary = `Too many attempts. Try again in ${error.retryAfter || 60} seconds.`;
  } else if (error instanceof TypeError) {
    summary = "Cannot reach the server. Check your connection and try again.";
  }
  $(".form-error", form).textContent = summary;
  (first || $(".form-error", form)).focus();
}

/** "12 s ago", "3 min ago", "2 h ago", "5 d ago". */
export function ago(date, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}
