// Mostrador's service worker: the installable, offline app shell. Hand-written JavaScript on purpose
// (see end2end/PWA-NOTES.md): it only caches the shell; the outbox and the sync logic live once, in the
// Rust app, which this worker merely wakes up (Background Sync → postMessage {type: "SYNC"}).
//
// A classic script (not an ES module) so that every browser that has service workers can run it.
// The server (server/src/pwa) serves it at /sw.js with two placeholders filled in:
//   VERSION   a hash of every shell file (pkg/, icons, manifest, this file), of the app version and of
//             the rendered HTML of every page; a new deploy changes this file's bytes, which is how the
//             browser notices an update;
//   PRECACHE  {pages, routes, assets, notFound, build}: the pages' URLs, the route patterns with an id
//             and the URL of a placeholder page for each (`/products/:id` → `/products/00000000-…`),
//             every static file of the site, and the build id of those files, which the server also
//             sends as `x-mostrador-build` on every response.
// Served as a plain file (without the server filling them in) this script fails to evaluate, so a broken
// worker is never installed.
'use strict';

const VERSION = '__MOSTRADOR_VERSION__';
const PRECACHE = __MOSTRADOR_PRECACHE__;

// Every cache this worker owns starts with this prefix; activate deletes the ones of older versions.
// (The app's data lives in IndexedDB, never in these caches.)
const PREFIX = 'mostrador-shell-';
const CACHE = PREFIX + VERSION;
const SYNC_TAG = 'mostrador-outbox';
const BUILD_HEADER = 'x-mostrador-build';
// How long a navigation waits for the network before the cached page answers (a poor connection).
const NAVIGATION_TIMEOUT_MS = 3000;

// Paths that are data or operations, never the shell: not cached and not intercepted.
function isBypassed(path) {
  return path === '/api' || path.startsWith('/api/') || path === '/health' || path === '/sw.js'
    || path === '/metrics';
}

// A page's key in the cache: the URL itself when it is one of the precached pages, the placeholder page
// of its route when the route has an id (the server renders a data-free shell, the same for every id;
// the page loads its data after hydration, reading the real id from the URL), or null.
function pageKey(path) {
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  if (PRECACHE.pages.includes(path)) return path;
  const segments = path.split('/');
  for (const route of PRECACHE.routes) {
    const pattern = route.pattern.split('/');
    const wildcard = pattern[pattern.length - 1] === '*';
    if (wildcard ? segments.length < pattern.length - 1 : segments.length !== pattern.length) continue;
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      if (pattern[i] === '*') break;
      ok = pattern[i].startsWith(':') ? segments[i] !== '' : pattern[i] === segments[i];
    }
    if (ok) return route.page;
  }
  return null;
}

// Precache requests skip the HTTP cache's freshness rules ('no-cache' revalidates): asset names are not
// hashed, so a heuristically fresh /pkg/mostrador.js of the previous build must not get into this cache.
function fresh(url) {
  return new Request(url, { cache: 'no-cache', credentials: 'same-origin' });
}

// A navigation must not be answered with a response that was redirected ("/" → "/products"): store a
// redirect of our own instead, which the browser follows (and which this worker then answers again).
function storable(response) {
  return response.redirected ? Response.redirect(response.url, 302) : response;
}

// One response for the cache, refused unless it belongs to this worker's build (a deploy during the
// install would otherwise mix two builds' HTML, JS and wasm, whose names are not hashed).
async function fetchForCache(url, okStatus = (s) => s === 200) {
  const response = await fetch(fresh(url));
  if (!okStatus(response.status)) throw new Error(`precache ${url}: HTTP ${response.status}`);
  const build = response.headers.get(BUILD_HEADER);
  if (build !== PRECACHE.build) throw new Error(`precache ${url}: build ${build}, expected ${PRECACHE.build}`);
  return storable(response);
}

async function precache() {
  const cache = await caches.open(CACHE);
  // All or nothing: if one file fails, install fails and the previous worker keeps serving the previous,
  // complete shell (the browser tries again at its next update check).
  const urls = [...PRECACHE.assets, ...PRECACHE.pages];
  const responses = await Promise.all(urls.map((url) => fetchForCache(url)));
  await Promise.all(responses.map((response, i) => cache.put(urls[i], response)));
  // The "page not found" shell answers unknown paths offline.
  if (PRECACHE.notFound) {
    await cache.put(PRECACHE.notFound, await fetchForCache(PRECACHE.notFound, (s) => s === 404));
  }
}

self.addEventListener('install', (event) => {
  // No skipWaiting(): a new version waits until the page asks ({type: "SKIP_WAITING"}, the update banner),
  // so a cashier is never switched to new code in the middle of a sale.
  event.waitUntil(precache());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith(PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
    // The first visit's page (and every open tab after an update) is controlled at once, so the app works
    // offline from the first visit on, not from the second.
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  const data = event.data || {};
  if (data.type === 'SKIP_WAITING') {
    self.skipWaiting();
  } else if (data.type === 'CLAIM') {
    // A page that loaded while this worker was installing asks to be controlled: activate's claim()
    // skips a document whose navigation was still in flight, and such a page would otherwise stay
    // without offline support until its next full load (the app navigates client-side all day).
    event.waitUntil(self.clients.claim());
  } else if (data.type === 'GET_VERSION' && event.source) {
    event.source.postMessage({ type: 'VERSION', version: VERSION });
  }
});

// Navigations: network first, with a short timeout, then this version's cache.
//  - Online, the server's page is always the right one: rendered in the language the person chose (the
//    `lang` cookie), and it refreshes the cached copy, so offline the app opens in that language too.
//  - But only a page of this worker's own build is used: the HTML, /pkg/mostrador.js and the wasm must
//    come from one build (their names are not hashed, and a new HTML hydrated by an old wasm breaks).
//    When a new deploy answers, the cached page of this build is served (the assets are served from the
//    cache too) and the worker checks for its successor, which the page then offers to switch to
//    ("Nueva versión disponible — recargar").
//  - Offline the fetch fails at once and the cache answers; on a poor connection the cache answers after
//    NAVIGATION_TIMEOUT_MS.
// Paths that are not pages of the app get the app's "not found" page when the network cannot answer.
async function navigate(event, url) {
  const cache = await caches.open(CACHE);
  const key = pageKey(url.pathname);
  const cached = async () => (key && await cache.match(key)) || (PRECACHE.notFound && await cache.match(PRECACHE.notFound));
  const network = fetch(event.request);
  network.catch(() => {}); // after a timeout nobody waits for it any more
  let response;
  try {
    response = await Promise.race([
      network,
      new Promise((_, reject) => setTimeout(() => reject(new Error('navigation timeout')), NAVIGATION_TIMEOUT_MS)),
    ]);
  } catch (error) {
    const fallback = await cached();
    if (fallback) return fallback;
    return network; // nothing cached for it: let the browser wait for the network after all
  }
  if (response.type === 'opaqueredirect') return response;
  if (response.headers.get(BUILD_HEADER) !== PRECACHE.build) {
    event.waitUntil(self.registration.update().catch(() => {}));
    const fallback = key && await cache.match(key);
    if (fallback) return fallback;
    return response;
  }
  if (key && response.status === 200) event.waitUntil(cache.put(key, response.clone()));
  return response;
}

// Static files of the shell: cache-first, network when (unexpectedly) missing from the cache.
async function asset(request, url) {
  const hit = await (await caches.open(CACHE)).match(url.pathname);
  return hit || fetch(request);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || isBypassed(url.pathname)) return;
  if (request.mode === 'navigate') {
    event.respondWith(navigate(event, url));
  } else if (PRECACHE.assets.includes(url.pathname)) {
    event.respondWith(asset(request, url));
  }
  // Anything else is left to the browser: the worker never sees the app's data.
});

// Background Sync (Chromium): the browser fires this when the connection is back, even if the page is in
// the background. The worker never sends data itself: it asks every open window to drain its outbox
// (the Rust sync engine, which holds the Web Lock so that only one tab sends). With no window open
// nothing is lost: the outbox is drained when the app next starts.
self.addEventListener('sync', (event) => {
  if (event.tag !== SYNC_TAG) return;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const client of windows) client.postMessage({ type: 'SYNC' });
  })());
});
