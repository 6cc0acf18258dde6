/* fengqiao — the report queue: reports written without a connection wait on the phone,
 * photos included, and are sent when the connection returns.
 *
 * No DOM here: the report page (static/js/report_outbox.js) and the service worker
 * (importScripts, then self.FengqiaoQueue.flush() on the Background Sync event with the tag
 * "report-queue") both use it.
 *
 *   self.FengqiaoQueue = { add(item), list(), get(id), update(id, patch), remove(id),
 *                          count(), flush(options), send(id, options) }
 *
 * An item (IndexedDB database "fengqiao-reports", store "items"):
 *   fields     the form's non-file entries as [name, value] pairs, idempotency_key and
 *              csrfmiddlewaretoken included
 *   photos     [{name, type, blob}]
 *   user       the writer's user id, "" when nobody was signed in
 *   csrf       the CSRF token when it was queued (a service worker cannot read cookies)
 *   summary    {category, title}: what the list shows
 *   created, status, errors, attempts, next (the earliest time of the next try), problem
 *   status: queued | sending | retrying | failed-fields | needs-sign-in | editing
 *
 * Sending rules: an item leaves the queue only on a 201 or 200 JSON answer that names the case
 * (fetch with redirect "manual": a login page never passes for success). 401, 403 or a
 * redirect: it stays, and the worker is asked to sign in again. 400 (or 422, a key used by
 * another report, or another 4xx): it stays with its field errors until it is edited. 408,
 * 429, 5xx, a network failure: it is tried again later, with a growing wait (at least the
 * server's Retry-After). A page that flushes
 * sends its own fresh CSRF token; the service worker the stored one. One Web Lock keeps the
 * page and the service worker from sending at the same time, and the queued → sending step
 * in one IndexedDB transaction is a second guard; a "sending" left behind for more than two
 * minutes (the sender died) goes back to the queue. The idempotency key of each report makes
 * a second send harmless, but it does not happen. Every change is told to open pages on the
 * BroadcastChannel "fengqiao-report-queue".
 */
(function (scope) {
  "use strict";

  var DB_NAME = "fengqiao-reports";
  var STORE = "items";
  var LOCK = "fengqiao-report-queue";
  var CHANNEL = "fengqiao-report-queue";
  var URL_PATH = "/report/";
  var STALE_SENDING_MS = 2 * 60 * 1000;
  var FIRST_WAIT_MS = 30 * 1000;
  var LONGEST_WAIT_MS = 30 * 60 * 1000;
  // What flush() sends by itself; failed-fields waits for an edit, editing for the form.
  var SENDABLE = { queued: true, retrying: true, "needs-sign-in": true };

  var dbPromise = null;
  var channel = null;

  function open() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      if (!scope.indexedDB) {
        reject(new Error("no IndexedDB"));
        return;
      }
      var request = scope.indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
      };
      request.onsuccess = function () {
        var db = request.result;
        db.onversionchange = function () {
          db.close();
          dbPromise = null;
        };
        resolve(db);
      };
      request.onerror = function () {
        dbPromise = null;
        reject(request.error);
      };
    });
    return dbPromise;
  }

  /* Run `work(store)` in one transaction; resolves with what work's last request gave
     (work returns a function that reads it) once the transaction has committed. */
  function transact(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = work(tx.objectStore(STORE));
        tx.oncomplete = function () {
          resolve(typeof result === "function" ? result() : result);
        };
        tx.onerror = function () {
          reject(tx.error);
        };
        tx.onabort = function () {
          reject(tx.error || new Error("aborted"));
        };
      });
    });
  }

  function tell(message) {
    try {
      if (!channel && scope.BroadcastChannel) channel = new scope.BroadcastChannel(CHANNEL);
      if (channel) channel.postMessage(message || { type: "changed" });
    } catch (e) {
      /* no channel: the pages see it at their next look */
    }
  }

  function now() {
    return Date.now();
  }

  /* ---- The store ------------------------------------------------------------------------ */

  function add(item) {
    var record = {
      fields: item.fields || [],
      photos: item.photos || [],
      user: item.user ? String(item.user) : "",
      csrf: item.csrf || "",
      url: item.url || URL_PATH,
      summary: item.summary || {},
      labels: item.labels || {},
      created: item.created || now(),
      status: item.status || "queued",
      errors: item.errors || {},
      attempts: 0,
      next: 0,
      problem: "",
    };
    return transact("readwrite", function (store) {
      var request = store.add(record);
      return function () {
        return request.result;
      };
    }).then(function (id) {
      tell({ type: "changed", id: id });
      return id;
    });
  }

  function list() {
    return transact("readonly", function (store) {
      var request = store.getAll();
      return function () {
        return request.result.sort(function (a, b) {
          return a.created - b.created || a.id - b.id;
        });
      };
    });
  }

  function get(id) {
    return transact("readonly", function (store) {
      var request = store.get(id);
      return function () {
        return request.result || null;
      };
    });
  }

  /* Change an item in one transaction. `patch` is an object of new values, or a function
     that gets the item and returns the patch (null: leave it as it is). Resolves with the
     item as stored, or null when it is gone (or the function declined). */
  function change(id, patch, quiet) {
    return transact("readwrite", function (store) {
      var stored = null;
      var request = store.get(id);
      request.onsuccess = function () {
        var item = request.result;
        if (!item) return;
        var values = typeof patch === "function" ? patch(item) : patch;
        if (!values) return;
        Object.keys(values).forEach(function (name) {
          if (name !== "id") item[name] = values[name];
        });
        store.put(item);
        stored = item;
      };
      return function () {
        return stored;
      };
    }).then(function (item) {
      if (item && !quiet) tell({ type: "changed", id: id });
      return item;
    });
  }

  function update(id, patch) {
    return change(id, patch, false);
  }

  function remove(id) {
    return transact("readwrite", function (store) {
      store.delete(id);
    }).then(function () {
      tell({ type: "changed", id: id });
    });
  }

  function count() {
    return list().then(function (items) {
      return items.filter(function (item) {
        return item.status !== "editing";
      }).length;
    });
  }

  /* ---- Sending ---------------------------------------------------------------------------- */

  function withLock(work) {
    var locks = scope.navigator && scope.navigator.locks;
    if (locks && locks.request) return locks.request(LOCK, work);
    return work(); // no Web Locks: the IndexedDB step alone guards
  }

  function backoff(attempts, retryAfterSeconds) {
    var wait = Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * Math.pow(2, Math.max(0, attempts - 1)));
    wait = wait * (0.8 + Math.random() * 0.4);
    if (retryAfterSeconds) wait = Math.max(wait, retryAfterSeconds * 1000);
    return Math.round(wait);
  }

  function retryAfter(response) {
    var raw = response.headers.get("Retry-After");
    if (!raw) return 0;
    var seconds = Number(raw);
    if (!isNaN(seconds)) return Math.max(0, seconds);
    var when = Date.parse(raw);
    return isNaN(when) ? 0 : Math.max(0, (when - now()) / 1000);
  }

  /* Whether the sender may send `item` now. A flush is asked for when the connection may be
     back (online, Background Sync, a page opened): a network failure's wait is cut short
     then, unless `options.early` is false; a server's wait (429, 5xx) is always honoured. */
  function due(item, options) {
    if (!SENDABLE[item.status]) return false;
    if (item.status === "needs-sign-in" && !options.csrfToken) return false; // needs a page
    if (options.userId !== undefined && item.user !== String(options.userId || "")) {
      return false; // written by someone else than the page's user: never sent from here
    }
    if (!item.next || item.next <= now()) return true;
    return options.early !== false && item.problem === "network";
  }

  /* queued → sending in one transaction: only one sender gets the item. */
  function claim(id, options) {
    return change(
      id,
      function (item) {
        if (!due(item, options)) return null;
        return { status: "sending", sendingSince: now(), attempts: (item.attempts || 0) + 1 };
      },
      false
    );
  }

  function body(item, token) {
    var data = new FormData();
    item.fields.forEach(function (pair) {
      data.append(pair[0], pair[0] === "csrfmiddlewaretoken" ? token : pair[1]);
    });
    item.photos.forEach(function (photo) {
      data.append("photos", photo.blob, photo.name || "photo.jpg");
    });
    return data;
  }

  function fieldValue(item, name) {
    var pair = item.fields.filter(function (p) {
      return p[0] === name;
    })[0];
    return pair ? pair[1] : "";
  }

  function setField(fields, name, value) {
    var found = false;
    var out = fields.map(function (pair) {
      if (pair[0] !== name) return pair;
      found = true;
      return [name, value];
    });
    if (!found) out.push([name, value]);
    return out;
  }

  function readJson(response) {
    return response.json().catch(function () {
      return null;
    });
  }

  /* Send one claimed item and write down what came of it. Resolves with
     {id, outcome: "sent" | "fields" | "sign-in" | "retry" | "network", answer}. */
  function deliver(item, options) {
    var token = options.csrfToken || item.csrf || fieldValue(item, "csrfmiddlewaretoken");
    var fetcher = options.fetch || scope.fetch.bind(scope);
    var request;
    try {
      request = fetcher(item.url || URL_PATH, {
        method: "POST",
        body: body(item, token),
        credentials: "same-origin",
        redirect: "manual",
        headers: {
          Accept: "application/json",
          "X-CSRFToken": token,
          "X-Report-User": item.user || "-",
        },
      });
    } catch (e) {
      request = Promise.reject(e);
    }
    return request.then(
      function (response) {
        return answered(item, response);
      },
      function () {
        return settle(item, {
          status: "retrying",
          problem: "network",
          next: now() + backoff(item.attempts),
        }).then(function () {
          return { id: item.id, outcome: "network" };
        });
      }
    );
  }

  function answered(item, response) {
    var status = response.status;
    if (response.type === "opaqueredirect" || (status >= 300 && status < 400)) {
      return signIn(item, null);
    }
    return readJson(response).then(function (answer) {
      if ((status === 201 || status === 200) && answer && answer.tracking_code) {
        return remove(item.id).then(function () {
          var sent = {
            type: "sent",
            id: item.id,
            code: answer.tracking_code,
            url: answer.url || "",
            title: answer.title || (item.summary && item.summary.title) || "",
            doneUrl: answer.done_url || "",
          };
          tell(sent);
          return { id: item.id, outcome: "sent", answer: answer };
        });
      }
      if (status === 401 || status === 403) return signIn(item, answer);
      // A refusal of the report itself (400 and 422 name the fields; another 4xx, such as a
      // body too large for a proxy, would be refused again as it is): it waits for an edit.
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        var errors = (answer && answer.errors) || {};
        var patch = { status: "failed-fields", errors: errors, problem: "fields", next: 0 };
        if (answer && answer.idempotency_key) {
          patch.fields = setField(item.fields, "idempotency_key", answer.idempotency_key);
        }
        return settle(item, patch).then(function () {
          return { id: item.id, outcome: "fields", answer: answer };
        });
      }
      // 429, 5xx, or anything else that is not an answer about this report: later.
      return settle(item, {
        status: "retrying",
        problem: "server",
        next: now() + backoff(item.attempts, retryAfter(response)),
      }).then(function () {
        return { id: item.id, outcome: "retry", answer: answer };
      });
    });
  }

  function signIn(item, answer) {
    var errors = answer && answer.detail ? { __all__: [answer.detail] } : {};
    return settle(item, {
      status: "needs-sign-in",
      problem: "sign-in",
      errors: errors,
      signIn: (answer && answer.sign_in) || "",
      next: 0,
    }).then(function () {
      return { id: item.id, outcome: "sign-in", answer: answer };
    });
  }

  function settle(item, patch) {
    patch.sendingSince = 0;
    return update(item.id, patch);
  }

  /* A "sending" whose sender died (page closed, worker stopped) goes back to the queue. */
  function revive(items) {
    var stale = items.filter(function (item) {
      return item.status === "sending" && now() - (item.sendingSince || 0) > STALE_SENDING_MS;
    });
    return Promise.all(
      stale.map(function (item) {
        return update(item.id, function (current) {
          if (current.status !== "sending") return null;
          if (now() - (current.sendingSince || 0) <= STALE_SENDING_MS) return null;
          return { status: "queued", sendingSince: 0 };
        });
      })
    );
  }

  function summarise(results) {
    return list().then(function (items) {
      var waiting = items.filter(function (item) {
        return item.status !== "editing";
      });
      var retryAt = null;
      waiting.forEach(function (item) {
        if (item.status === "retrying" && item.next && (retryAt === null || item.next < retryAt)) {
          retryAt = item.next;
        }
      });
      return {
        results: results,
        sent: results.filter(function (r) {
          return r.outcome === "sent";
        }).length,
        waiting: waiting.length,
        retryAt: retryAt,
      };
    });
  }

  /* Send every item that is due, one after another, under the lock.

     options: csrfToken (a page's fresh token; without it, each item's own), userId (a page's
     user: only that writer's items are sent), early (false: a network failure's wait holds),
     only (an item id: that one alone), fetch (for a caller's own fetch).
     Resolves with {results, sent, waiting, retryAt}: retryAt is when the earliest item that
     waits for a retry is due (null: none). */
  function flush(options) {
    options = options || {};
    return withLock(function () {
      return list()
        .then(function (items) {
          return revive(items).then(function () {
            return list();
          });
        })
        .then(function (items) {
          var ids = items
            .filter(function (item) {
              return options.only === undefined || item.id === options.only;
            })
            .map(function (item) {
              return item.id;
            });
          var results = [];
          var offline = false;
          return ids
            .reduce(function (chain, id) {
              return chain.then(function () {
                if (offline) return null;
                return claim(id, options).then(function (item) {
                  if (!item) return null;
                  return deliver(item, options).then(function (result) {
                    results.push(result);
                    // Without a connection the others would fail the same way.
                    if (result.outcome === "network") offline = true;
                  });
                });
              });
            }, Promise.resolve())
            .then(function () {
              return summarise(results);
            });
        });
    });
  }

  /* Send one item now (the page's "send" of a report just written): flush limited to it.
     Resolves with its result and the summary's retryAt. */
  function send(id, options) {
    var own = {};
    Object.keys(options || {}).forEach(function (name) {
      own[name] = options[name];
    });
    own.only = id;
    own.early = true;
    return flush(own).then(function (summary) {
      var result = summary.results[0] || { id: id, outcome: "none" };
      result.retryAt = summary.retryAt;
      return result;
    });
  }

  scope.FengqiaoQueue = {
    add: add,
    list: list,
    get: get,
    update: update,
    remove: remove,
    count: count,
    flush: flush,
    send: send,
    channelName: CHANNEL,
    syncTag: "report-queue",
  };
})(self);
