/* fengqiao — registers the phone app's service worker (/sw.js, scope "/") and tells it who
 * is signed in (templates/pwa/_head.html gives a mark that changes with each sign-in):
 *
 * - signed in: once per sign-in, and again after an hour, the worker fetches ahead the pages
 *   and data a grid worker needs without a connection (the report page, the home, the
 *   worker's grids for the map), even if they were never opened;
 * - nobody signed in where someone was (logged out, the session ended), or another sign-in
 *   than the last one: the worker forgets the kept pages and API answers, so the next
 *   person on the phone sees none of them.
 *
 * Loaded with `defer` from every page; does nothing where service workers are not offered
 * (plain HTTP on another host than localhost, old browsers).
 */
(function () {
  "use strict";

  if (!("serviceWorker" in navigator)) return;
  var script = document.currentScript;
  if (!script) return;
  var url = script.getAttribute("data-sw");
  var session = script.getAttribute("data-session") || "";
  var offlinePage = script.hasAttribute("data-offline-page");
  var KEY = "fengqiao-sw-warm";
  var HOUR = 60 * 60 * 1000;

  function store() {
    try {
      return window.localStorage;
    } catch (e) {
      return null; // storage disabled: fetch ahead on every page, which stays correct
    }
  }

  function read() {
    var s = store();
    try {
      return (s && JSON.parse(s.getItem(KEY) || "null")) || null;
    } catch (e) {
      return null;
    }
  }

  function write(value) {
    var s = store();
    if (!s) return;
    try {
      if (value) s.setItem(KEY, JSON.stringify(value));
      else s.removeItem(KEY);
    } catch (e) {
      /* full: the next page asks again */
    }
  }

  function tell(type) {
    return navigator.serviceWorker.ready.then(function (registration) {
      if (registration.active) registration.active.postMessage({ type: type });
    });
  }

  navigator.serviceWorker.register(url, { scope: "/" }).catch(function () {
    /* no worker: the site works online as before */
  });

  if (offlinePage) return;
  var last = read();
  if (session) {
    if (last && last.session !== session) {
      // Another sign-in than the last one seen (maybe another person, without logging out):
      // forget what was kept for the one before, then fetch ahead again.
      write({ session: session, at: Date.now() });
      tell("switch");
    } else if (!last || Date.now() - last.at > HOUR) {
      write({ session: session, at: Date.now() });
      tell("warm");
    }
  } else if (last) {
    write(null);
    tell("forget");
  }
})();
