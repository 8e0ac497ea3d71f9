// Talking to the services through the console's proxy (/api/<service>/...): the signed-in token,
// JSON requests with the {"error","detail"} error model, and a Server-Sent Events reader.
// EventSource cannot send an Authorization header, so the stream is read with fetch().

const TOKEN_KEY = "qzx.console.token";
export const bus = new EventTarget();
export const emit = (type, detail) => bus.dispatchEvent(new CustomEvent(type, { detail }));
export const on = (type, fn) => bus.addEventListener(type, (e) => fn(e.detail));

let token = "";

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(`${code}: ${detail}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
  // The service (or this route of it) is not there yet, or not reachable through the proxy.
  get unavailable() {
    return this.status === 404 || this.status === 405 || this.status === 502 || this.status === 504;
  }
}

export function currentToken() {
  return token;
}

export function claims(jwt = token) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(part + "=".repeat((4 - (part.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

export function useToken(jwt) {
  token = (jwt || "").trim();
  emit("token", token);
}

// The token this page signed in for, kept in its session storage (gone when the tab closes);
// without one, the sign-in page.
export function loadToken() {
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (!saved) return signIn();
  useToken(saved);
}

export function signIn() {
  sessionStorage.removeItem(TOKEN_KEY);
  const next = location.pathname + location.search;
  location.assign(`/sign-in?next=${encodeURIComponent(next)}`);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  token = "";
  location.assign("/sign-in");
}

async function toError(res) {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    if (body && body.error) return new ApiError(res.status, body.error, body.detail ?? "");
    if (body && body.detail) return new ApiError(res.status, `http_${res.status}`, JSON.stringify(body.detail));
  } catch {
    /* not JSON: show the text */
  }
  return new ApiError(res.status, `http_${res.status}`, text.slice(0, 300) || res.statusText);
}

function authHeaders(extra = {}) {
  return token ? { Authorization: `Bearer ${token}`, ...extra } : { ...extra };
}

export function apiUrl(service, path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, value);
  }
  const qs = params.toString();
  return `/api/${service}${path}${qs ? `?${qs}` : ""}`;
}

export async function api(service, path, { method = "GET", query, body, headers } = {}) {
  const init = { method, headers: authHeaders(headers) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(apiUrl(service, path, query), init);
  } catch (err) {
    throw new ApiError(0, "network_error", `the console did not answer: ${err.message}`);
  }
  if (res.status === 401) signIn(); // expired or revoked: sign in again
  if (!res.ok) throw await toError(res);
  return res.status === 204 ? null : res.json();
}

// Reads an SSE stream, resuming with Last-Event-ID after every break. Returns {close()}.
export function openStream(service, path, { onEvent, onState }) {
  let lastId = null;
  let closed = false;
  let controller = null;
  let retryMs = 1000;

  async function connectOnce() {
    controller = new AbortController();
    const headers = authHeaders({ Accept: "text/event-stream" });
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const res = await fetch(apiUrl(service, path), { headers, signal: controller.signal, cache: "no-store" });
    if (!res.ok) throw await toError(res);
    onState("live", lastId ? `resumed after ${lastId}` : "");
    retryMs = 1000;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = { type: "message", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) event = feedLine(line, event);
    }
  }

  function feedLine(line, event) {
    if (line === "") {
      if (event.id !== null) lastId = event.id;
      if (event.data.length) onEvent(event.type, event.data.join("\n"), event.id);
      return { type: "message", data: [], id: null };
    }
    if (line.startsWith(":")) return event; // keep-alive comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") event.data.push(value);
    else if (field === "id") event.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
    return event;
  }

  (async () => {
    while (!closed) {
      try {
        onState("connecting", "");
        await connectOnce();
        if (!closed) onState("reconnecting", "the stream ended");
      } catch (err) {
        if (closed) return;
        onState("error", err instanceof ApiError ? err : new ApiError(0, "stream_error", err.message));
        retryMs = Math.min(retryMs * 2, 15000);
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  })();

  return {
    close() {
      closed = true;
      if (controller) controller.abort();
    },
  };
}
