// The page's client of the JSON API.
//
// The access token lives only in this module's variable: never in storage, a cookie or a URL.
// The refresh token is an HttpOnly, SameSite=Strict cookie that page scripts cannot read;
// /auth/session/refresh trades it (CSRF-protected) for a new access token, rotating it.

const REFRESH_MARGIN_MS = 60_000;
// localStorage holds only a hint that a session cookie may exist (no secret), so a visitor
// who never signed in gets no refresh request answered 401; it also tells other tabs about
// sign-in and sign-out.
const SESSION_HINT = "iotserver.session";
// Set while a refresh is on its way. A page left mid-refresh cannot clear it: the next page
// then waits for that (keepalive) answer to land its new cookie before presenting one, since
// presenting the retired cookie would end the session.
const REFRESH_MARK = "iotserver.refreshing";
const REFRESH_SETTLE_MS = 1_500;

let accessToken = null;
let refreshTimer = null;
let refreshing = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, body, headers) {
    super((body && body.detail) || `The server answered ${status}.`);
    this.status = status;
    this.body = body || {};
    this.retryAfter = headers ? Number(headers.get("Retry-After")) || null : null;
  }
}

function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

async function csrfToken() {
  let token = readCookie("csrftoken");
  if (!token) {
    await fetch("/auth/session/csrf", { credentials: "same-origin" });
    token = readCookie("csrftoken");
  }
  return token;
}

async function jsonOrEmpty(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

async function sessionPost(path, body) {
  const headers = { Accept: "application/json", "X-CSRFToken": await csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    // The server rotates the refresh cookie as soon as it reads it: the answer carrying the
    // new one must be kept even if the user leaves the page meanwhile.
    keepalive: true,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function tokenExpiresAt(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).exp * 1000;
  } catch {
    return Date.now() + 5 * 60_000;
  }
}

function setSignedIn(token) {
  const wasSignedIn = accessToken !== null;
  accessToken = token;
  clearTimeout(refreshTimer);
  if (token) {
    localStorage.setItem(SESSION_HINT, "1");
    const delay = Math.max(5_000, tokenExpiresAt(token) - Date.now() - REFRESH_MARGIN_MS);
    refreshTimer = setTimeout(() => refresh().catch(() => {}), delay);
  } else {
    localStorage.removeItem(SESSION_HINT);
  }
  if (wasSignedIn !== (token !== null)) {
    for (const listener of listeners) listener(token !== null);
  }
}

/** Calls ``listener(signedIn)`` whenever the signed-in state changes. */
export function onAuthChange(listener) {
  listeners.add(listener);
}

export function isSignedIn() {
  return accessToken !== null;
}

async function refreshNow() {
  const age = Date.now() - Number(localStorage.getItem(REFRESH_MARK) || 0);
  if (age >= 0 && age < REFRESH_SETTLE_MS) {
    await new Promise((resolve) => setTimeout(resolve, REFRESH_SETTLE_MS - age));
  }
  localStorage.setItem(REFRESH_MARK, String(Date.now()));
  let response;
  try {
    response = await sessionPost("/auth/session/refresh");
  } finally {
    localStorage.removeItem(REFRESH_MARK);
  }
  if (response.ok) {
    setSignedIn((await response.json()).auth_token);
    return true;
  }
  if (response.status === 401) {
    setSignedIn(null);
    return false;
  }
  throw new ApiError(response.status, await jsonOrEmpty(response), response.headers);
}

/** A new access token from the refresh cookie; false when there is no valid session. */
export function refresh() {
  if (!refreshing) {
    // Every refresh rotates the cookie: tabs of this origin take turns, or one tab would
    // present a cookie another has just retired.
    const run = () => refreshNow();
    const task = navigator.locks
      ? navigator.locks.request("iotserver-refresh", run)
      : run();
    refreshing = task.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** On page load: resume the session if there may be one. */
export async function restoreSession() {
  if (!localStorage.getItem(SESSION_HINT)) return false;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      return await refresh();
    } catch {
      // a server error or a network blip, not a verdict on the session: try once more
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
  return false;
}

window.addEventListener("storage", (event) => {
  if (event.key !== SESSION_HINT) return;
  if (event.newValue === null && accessToken) setSignedIn(null);
});

export async function login({ email, password }) {
  const response = await sessionPost("/auth/session/login", { email, password });
  const body = await jsonOrEmpty(response);
  if (!response.ok) throw new ApiError(response.status, body, response.headers);
  setSignedIn(body.auth_token);
}

export async function register({ email, username, password }) {
  const response = await fetch("/auth/register", {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify({ email, username, password }),
  });
  const body = await jsonOrEmpty(response);
  if (!response.ok) throw new ApiError(response.status, body, response.headers);
  return body;
}

/** Revokes the refresh token on the server and forgets the access token. */
export async function logout() {
  try {
    await sessionPost("/auth/session/logout");
  } finally {
    setSignedIn(null);
  }
}

/**
 * An API request with the bearer token; a 401 refreshes the token and retries once.
 * Answers the parsed JSON (null for 204), or the Response itself with ``raw``.
 * Statuses in ``accept`` are not errors (e.g. a 503 whose body is still a report).
 */
export async function api(path, { method = "GET", body, raw = false, accept = [] } = {}) {
  if (!accessToken && !(await restoreSession())) {
    throw new ApiError(401, { detail: "Not signed in." });
  }
  const send = () => {
    const headers = { Accept: raw ? "*/*" : "application/json", Authorization: `Bearer ${accessToken}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  };
  let response = await send();
  if (response.status === 401 && (await refresh())) response = await send();
  if (response.status === 401) setSignedIn(null);
  if (!response.ok && !accept.includes(response.status)) {
    throw new ApiError(response.status, await jsonOrEmpty(response), response.headers);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** The list in an API answer, whether it is the body, ``data`` or ``data.<key>``. */
export function listOf(body, key) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body.data)) return body.data;
  if (body && body.data && Array.isArray(body.data[key])) return body.data[key];
  if (body && Array.isArray(body.results)) return body.results;
  return [];
}
