// The patrol app's service worker, served at /patrol/sw.js so that its scope is /patrol/. It keeps
// the app shell (the page, its modules, style, manifest and icons) so that the page opens with no
// network: online the network answers first and refreshes the copy, offline the copy answers.
// The task cards' evidence pictures are kept the same way, the newest EVIDENCE_KEPT of them, so
// that a card still shows its picture once the officer is offline (a picture's URI always names
// the same picture; the page keeps the cards' evidence lists with its tasks).
// Nothing else is handled; every /api/ call above all goes to the network untouched and is never
// stored (the task list and the queue live in the page's localStorage, and dispatch's answers must
// never be replayed from a cache).

const CACHE = "qzx-patrol-shell-v2"; // a new name drops the old copy on activation
const SHELL = [
  "/patrol/",
  "/patrol/patrol.webmanifest",
  "/static/patrol.css",
  "/static/js/patrol.js",
  "/static/js/patrol-location.js",
  "/static/js/api.js",
  "/static/js/dom.js",
  "/static/js/evidence.js",
  "/static/js/labels.js",
  "/static/js/i18n.js",
  "/static/icons/patrol-192.png",
  "/static/icons/patrol-512.png",
];
const SHELL_PATHS = new Set(SHELL);
const EVIDENCE = "qzx-patrol-evidence-v1";
const EVIDENCE_KEPT = 60; // pictures: about three for each of the 20 cards the page shows
const NETWORK_TIMEOUT_MS = 5000; // a network that hangs (one bar of signal) counts as gone

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE && name !== EVIDENCE) await caches.delete(name);
    await self.clients.claim(); // the page that registered this worker is served by it at once
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET") return;
  const shell = url.origin === self.location.origin && SHELL_PATHS.has(url.pathname);
  if (shell) {
    // Fetched by URL (a navigation's own request cannot take a signal), kept under its path.
    event.respondWith(cached(CACHE, url.pathname, url.href));
  } else if (request.destination === "image" && /^https?:$/.test(url.protocol)) {
    // Evidence, often another origin's (no-cors: an opaque answer the page can show, not read).
    event.respondWith(cached(EVIDENCE, url.href, request, EVIDENCE_KEPT));
  }
});

// Online the network first (the copy refreshed), offline or when the network fails the copy;
// with `kept`, only the newest that many copies stay.
async function cached(name, key, request, kept = 0) {
  const cache = await caches.open(name);
  if (!self.navigator.onLine) return (await cache.match(key)) || fetch(request);
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), NETWORK_TIMEOUT_MS);
  try {
    const response = await fetch(request, { signal: timeout.signal });
    if (response.ok || response.type === "opaque") {
      await cache.put(key, response.clone());
      if (kept) await trim(cache, kept);
    }
    return response;
  } catch {
    return (await cache.match(key)) || Response.error();
  } finally {
    clearTimeout(timer);
  }
}

// One trim at a time; a put moves its key to the end, so the oldest copies go first.
let trimming = Promise.resolve();
function trim(cache, kept) {
  trimming = trimming.then(async () => {
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - kept))) await cache.delete(old);
  }).catch(() => {});
  return trimming;
}
