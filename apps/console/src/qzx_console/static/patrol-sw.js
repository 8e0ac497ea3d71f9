// The patrol app's service worker, served at /patrol/sw.js so that its scope is /patrol/. It keeps
// the app shell (the page, its modules, style, manifest and icons) so that the page opens with no
// network: online the network answers first and refreshes the copy, offline the copy answers.
// Only the shell's own paths are handled; every other request, every /api/ call above all, goes
// to the network untouched and is never stored (the task list and the queue live in the page's
// localStorage, and dispatch's answers must never be replayed from a cache).

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
const NETWORK_TIMEOUT_MS = 5000; // a network that hangs (one bar of signal) counts as gone

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim(); // the page that registered this worker is served by it at once
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !SHELL_PATHS.has(url.pathname)) return;
  event.respondWith(self.navigator.onLine ? networkFirst(url) : cacheFirst(url));
});

// Fetched by URL (a navigation's own request cannot take a signal), kept under its path.
async function networkFirst(url) {
  const cache = await caches.open(CACHE);
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), NETWORK_TIMEOUT_MS);
  try {
    const response = await fetch(url.href, { signal: timeout.signal });
    if (response.ok) await cache.put(url.pathname, response.clone());
    return response;
  } catch {
    return (await cache.match(url.pathname)) || Response.error();
  } finally {
    clearTimeout(timer);
  }
}

async function cacheFirst(url) {
  return (await caches.match(url.pathname)) || fetch(url.href);
}
