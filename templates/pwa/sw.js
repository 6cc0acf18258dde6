/* fengqiao — the service worker of the phone app, served at /sw.js (pwa.views.service_worker)
 * with scope "/". It keeps what a grid worker needs where the connection comes and goes:
 *
 * - the shell's static files and the offline page, precached with revisions computed by
 *   the server (pwa/precache.py);
 * - the pages of the road ("/", "/report/", "/cases/", a case, "/notifications/"):
 *   network first, the kept copy when the network fails, else the offline page; only
 *   real 200 HTML answers are kept, never a redirect to the sign-in page nor an error;
 * - the API answers the report page reads (categories, the worker's grids): network first;
 * - other static files: stale while revalidate; map tiles: cache first, as they are seen;
 * - never a POST, the admin, the sign-in pages or any other page.
 *
 * A new release: the server's revisions change, so /sw.js changes and the browser installs
 * it; it takes over at once (skipWaiting, clientsClaim) and drops the caches of the old
 * precache (cleanupOutdatedCaches). The reports waiting for a connection live in IndexedDB
 * (static/js/report_queue.js), not in Cache Storage: clearing caches, here or at log out,
 * never touches them.
 *
 * Log out (POST /accounts/logout/, or a page of nobody signed in): the kept pages and API
 * answers are deleted, so the next person on a shared phone sees none of them. The static
 * precache and the tiles stay: they hold nothing personal.
 */
"use strict";

const CONFIG = {{ config|safe }};

importScripts(CONFIG.workboxSw);
// Every module from this site, by the URL the static storage gives (without this workbox-sw
// builds the URLs of a CDN).
workbox.setConfig({
  debug: false,
  modulePathCb: function (name) {
    return CONFIG.modules[name];
  },
});
// Load every module now: a service worker may only import scripts while it is first
// evaluated, so a module first touched inside an event handler would fail to load.
const core = workbox.core;
const routing = workbox.routing;
const strategies = workbox.strategies;
const precaching = workbox.precaching;
const expiration = workbox.expiration;
const cacheableResponse = workbox.cacheableResponse;

// The queue of reports waiting for a connection, when the site has it: it defines
// self.FengqiaoQueue in this scope too.
if (CONFIG.queue) importScripts(CONFIG.queue);

const PAGES = "fengqiao-pages";
const API = "fengqiao-api";
const STATIC = "fengqiao-static";
const TILES = "fengqiao-tiles";
const NETWORK_TIMEOUT = 4;
const DAY = 24 * 60 * 60;

core.setCacheNameDetails({ prefix: "fengqiao" });
self.addEventListener("install", function () {
  self.skipWaiting();
});
core.clientsClaim();
precaching.cleanupOutdatedCaches();
precaching.precacheAndRoute(CONFIG.precache);

function sameOrigin(url) {
  return url.origin === self.location.origin;
}

function matchesAny(patterns) {
  const compiled = patterns.map(function (source) {
    return new RegExp(source);
  });
  return function (path) {
    return compiled.some(function (re) {
      return re.test(path);
    });
  };
}

// Cache Storage honours Vary, and Django's pages vary on Cookie and Accept-Language, which
// a worker's request does not carry the same way: match on the URL alone.
const matchOptions = { ignoreVary: true };

/* ---- Pages ------------------------------------------------------------------------------ */
function isGoodPage(response) {
  return (
    response &&
    response.status === 200 &&
    response.type === "basic" &&
    !response.redirected &&
    (response.headers.get("Content-Type") || "").indexOf("text/html") === 0
  );
}

const keepGoodPages = {
  cacheWillUpdate: async function ({ response }) {
    return isGoodPage(response) ? response : null;
  },
};

const isRoadPage = matchesAny(CONFIG.pages);
routing.registerRoute(
  function ({ request, url }) {
    return request.mode === "navigate" && sameOrigin(url) && isRoadPage(url.pathname);
  },
  // No time limit on the network for a page: a slow answer is still the page as it is now
  // (the one just acted on, after a form's redirect); a kept copy would show the case as it
  // was, without the act. Only a failed fetch (no connection) falls back to the kept copy.
  new strategies.NetworkFirst({
    cacheName: PAGES,
    matchOptions: matchOptions,
    plugins: [
      keepGoodPages,
      new expiration.ExpirationPlugin({ maxEntries: 60, maxAgeSeconds: 30 * DAY }),
    ],
  })
);

// Log out: forget the kept pages before the request leaves, then let it through.
routing.registerRoute(
  function ({ url }) {
    return sameOrigin(url) && url.pathname === CONFIG.logout;
  },
  async function ({ request }) {
    await forget();
    return fetch(request);
  },
  "POST"
);

// Any other page: straight to the network, the offline page when there is none.
routing.registerRoute(function ({ request }) {
  return request.mode === "navigate";
}, new strategies.NetworkOnly());

/* ---- API answers the report page reads --------------------------------------------------- */
const isKeptApi = matchesAny(CONFIG.api);
routing.registerRoute(
  function ({ url }) {
    return sameOrigin(url) && isKeptApi(url.pathname);
  },
  new strategies.NetworkFirst({
    cacheName: API,
    networkTimeoutSeconds: NETWORK_TIMEOUT,
    matchOptions: matchOptions,
    plugins: [new cacheableResponse.CacheableResponsePlugin({ statuses: [200] })],
  })
);

/* ---- Map tiles, as they are seen --------------------------------------------------------- */
if (CONFIG.tiles) {
  const tileSource = CONFIG.tilesSameOrigin
    ? "^" + self.location.origin.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&") + CONFIG.tiles
    : CONFIG.tiles;
  const isTile = new RegExp(tileSource);
  // Asked with CORS, so that a kept tile is a real answer (200) rather than an opaque one: a
  // browser counts each opaque answer as megabytes of the site's storage, which the
  // reports waiting on the phone share, and an opaque error would be kept as if a tile.
  const tiles = new strategies.CacheFirst({
    cacheName: TILES,
    fetchOptions: { mode: "cors", credentials: "omit" },
    plugins: [
      new cacheableResponse.CacheableResponsePlugin({ statuses: [200] }),
      new expiration.ExpirationPlugin({
        maxEntries: 1000,
        maxAgeSeconds: 30 * DAY,
        purgeOnQuotaError: true,
      }),
    ],
  });
  routing.registerRoute(
    function ({ url }) {
      return isTile.test(url.href);
    },
    async function (options) {
      try {
        return await tiles.handle(options);
      } catch (e) {
        // A tile server that does not allow CORS: the tile as the page asked for it, not
        // kept (without a connection this fails too, and the map draws without it).
        return fetch(options.request);
      }
    }
  );
}

/* ---- Other static files ------------------------------------------------------------------ */
const staticPrefix = new URL(CONFIG.static, self.location.origin).href;
routing.registerRoute(
  function ({ url }) {
    return url.href.indexOf(staticPrefix) === 0;
  },
  new strategies.StaleWhileRevalidate({
    cacheName: STATIC,
    plugins: [
      new cacheableResponse.CacheableResponsePlugin({ statuses: [200] }),
      new expiration.ExpirationPlugin({ maxEntries: 200, maxAgeSeconds: 30 * DAY }),
    ],
  })
);

/* ---- Nothing else: the offline page for a page, an error for the rest -------------------- */
routing.setCatchHandler(async function ({ request }) {
  if (request.mode === "navigate") {
    const page = await precaching.matchPrecache(CONFIG.offline);
    if (page) return page;
  }
  return Response.error();
});

/* ---- Fetch ahead and forget (static/js/sw_register.js asks) ------------------------------ */
// Bumped by each forget: a fetch ahead that began before it keeps nothing it brings back
// afterwards (the former user's pages would come back after a log out).
let generation = 0;

async function warm() {
  const started = generation;
  const caches_ = { pages: await caches.open(PAGES), api: await caches.open(API) };
  await Promise.all(
    CONFIG.warm.map(async function (item) {
      const page = item.cache === "pages";
      try {
        const response = await fetch(item.url, {
          credentials: "same-origin",
          headers: { Accept: page ? "text/html" : "application/json" },
        });
        const good = page
          ? isGoodPage(response)
          : response.status === 200 && !response.redirected;
        if (good && generation === started) await caches_[item.cache].put(item.url, response);
      } catch (e) {
        // No connection now: the next signed-in page asks again.
      }
    })
  );
}

async function forget() {
  generation += 1;
  await Promise.all([caches.delete(PAGES), caches.delete(API)]);
}

self.addEventListener("message", function (event) {
  const type = event.data && event.data.type;
  let done = null;
  if (type === "warm") done = warm();
  else if (type === "forget") done = forget();
  // Another person signed in on this phone: nothing of the one before stays, then their own
  // pages are fetched ahead.
  else if (type === "switch") done = forget().then(warm);
  if (!done) return;
  event.waitUntil(
    done.then(function () {
      // Tell the page it is done (the tests wait for it; a page may show it).
      if (event.source) event.source.postMessage({ type: type + "-done" });
    })
  );
});

// A new release: the kept pages name the old release's scripts and styles, which the
// precache has just dropped (in production their URLs carry a hash), so they would open
// without them. Drop the pages and fetch the road ones ahead again (the page that installed
// this release is online and, when someone is signed in, carries their cookie).
self.addEventListener("activate", function (event) {
  event.waitUntil(caches.delete(PAGES).then(warm));
});

/* ---- Background Sync: send the queued reports when the connection is back ---------------- */
self.addEventListener("sync", function (event) {
  if (event.tag === "report-queue" && self.FengqiaoQueue) {
    // While a report still waits (no network, a busy server, a retry not due yet) the sync
    // fails, so the browser tries again later by itself (with its own backoff); field
    // errors and sign-in wait for the worker, and retrying would not help them.
    event.waitUntil(
      self.FengqiaoQueue.flush().then(function () {
        return self.FengqiaoQueue.list().then(function (items) {
          var waiting = items.some(function (item) {
            return item.status === "queued" || item.status === "retrying";
          });
          if (waiting) throw new Error("reports still waiting for the connection");
        });
      })
    );
  }
});
