/* fengqiao — the report page's outbox: nothing typed or photographed is lost for want of a
 * connection.
 *
 * With JavaScript and storage on the phone, every report goes through the queue
 * (static/js/report_queue.js): it is stored first, photos included (already made smaller
 * by report.js), then sent at once as JSON. Sent (201/200): on to the done page. Field
 * errors (400): back into the form with the errors next to the fields, photos still in it.
 * No connection, the answer lost, the server busy, the session expired: the report waits in
 * the "待发送" list and the form is empty for the next one. Waiting reports are sent by
 * themselves: Background Sync ("report-queue") where a service worker is there, and this
 * page on its "online" event, on load and when a retry is due. Each one can be loaded back
 * into the form to edit (out of the queue until it is sent again) or deleted.
 *
 * Without IndexedDB the form posts as before (report.js keeps the text as a draft).
 */
(function () {
  "use strict";

  var Q = window.FengqiaoQueue;
  var R = window.FengqiaoReport;
  var form = document.getElementById("report-form");
  var panel = document.querySelector("[data-outbox]");
  if (!Q || !R || !form || !panel || !window.indexedDB || !window.FormData || !window.Promise) {
    return;
  }

  var me = form.getAttribute("data-user") || "";
  var signInUrl = form.getAttribute("data-sign-in") || "/accounts/login/";
  var photoInput = document.getElementById("id_photos");
  var keyInput = form.querySelector('input[name="idempotency_key"]');
  var countNode = panel.querySelector("[data-outbox-count]");
  var noteNode = panel.querySelector("[data-outbox-note]");
  var listNode = panel.querySelector("[data-outbox-list]");
  var sentNode = panel.querySelector("[data-outbox-sent]");
  var errorBox = document.querySelector("[data-outbox-errors]");
  var submit = form.querySelector("[data-submit]");
  var editingId = null; // the queued report the form holds, if any
  var sent = []; // reports sent while this page is open: {code, url, title}
  var retryTimer = null;
  var persisted = false;
  var taking = false; // a report being stored and sent: a second tap waits for it

  // Whether the form can take a stored report's photos back (a DataTransfer to build):
  // without it a report is not offered for editing, which would lose its photos.
  var canCarryPhotos = (function () {
    try {
      return !!(window.DataTransfer && new window.DataTransfer());
    } catch (e) {
      return false; // Safari before 14.1: the name without the constructor
    }
  })();

  var T = {};
  Array.prototype.forEach.call(document.querySelectorAll("#outbox-strings [data-t]"), function (n) {
    T[n.getAttribute("data-t")] = n.textContent;
  });

  function t(key, values) {
    var text = T[key] || key;
    if (values) {
      text = text.replace(/%\((\w+)\)s/g, function (_, name) {
        return values[name] !== undefined ? values[name] : "";
      });
    }
    return text;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function csrf() {
    var input = form.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  // A page flushes with its own fresh token, and only its own user's reports.
  function pageOptions(extra) {
    var options = { csrfToken: csrf(), userId: me, early: true };
    Object.keys(extra || {}).forEach(function (name) {
      options[name] = extra[name];
    });
    return options;
  }

  // The notes of the page that said photos were lost on a failed send: now they wait here.
  Array.prototype.forEach.call(document.querySelectorAll("[data-without-queue]"), function (n) {
    n.hidden = true;
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-with-queue]"), function (n) {
    n.hidden = false;
  });

  /* ---- The form as a queue item, and back ------------------------------------------------- */

  function itemFromForm() {
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string") fields.push([name, value]);
    });
    var labels = {};
    Array.prototype.forEach.call(form.querySelectorAll('input[type="radio"]:checked'), function (r) {
      var label = r.closest("label");
      labels[r.name] = label ? label.textContent.trim() : r.value;
    });
    var photos = Array.prototype.map.call((photoInput && photoInput.files) || [], function (f) {
      return { name: f.name, type: f.type, blob: f };
    });
    var category = document.getElementById("id_category");
    var option = category && category.selectedOptions[0];
    var title = document.getElementById("id_title");
    return {
      fields: fields,
      photos: photos,
      labels: labels,
      user: me,
      csrf: csrf(),
      summary: {
        category: option && option.value ? option.textContent.trim() : "",
        title: title ? title.value.trim() : "",
      },
    };
  }

  function loadIntoForm(item) {
    var values = {};
    item.fields.forEach(function (pair) {
      values[pair[0]] = pair[1];
    });
    // report.js's draft: checkboxes as true/false, a chosen place with its label.
    var draft = { people: Number(values["people-TOTAL_FORMS"] || 0), fields: {} };
    Object.keys(values).forEach(function (name) {
      draft.fields[name] = values[name];
    });
    Array.prototype.forEach.call(form.querySelectorAll('input[type="checkbox"]'), function (box) {
      if (box.name) draft.fields[box.name] = values[box.name] !== undefined;
    });
    Object.keys(item.labels || {}).forEach(function (name) {
      draft.fields["__label:" + name] = item.labels[name];
    });
    R.load(draft);
    // What the draft leaves out (personal data such as ID numbers) is in the item.
    Array.prototype.forEach.call(form.querySelectorAll('[data-draft="off"]'), function (input) {
      if (values[input.name] !== undefined) input.value = values[input.name];
    });
    if (keyInput && values.idempotency_key) keyInput.value = values.idempotency_key;
    if (photoInput && window.DataTransfer) {
      var files = item.photos.map(function (p) {
        return new File([p.blob], p.name || "photo.jpg", { type: p.type || p.blob.type });
      });
      if (window.fengqiaoPhotos && window.fengqiaoPhotos.replace) {
        window.fengqiaoPhotos.replace(files); // its previews, with their remove buttons
      } else {
        var dt = new DataTransfer();
        files.forEach(function (f) {
          dt.items.add(f);
        });
        photoInput.files = dt.files;
        photoInput.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
  }

  function formHasContent() {
    var title = document.getElementById("id_title");
    var text = document.getElementById("id_description");
    return !!((title && title.value.trim()) || (text && text.value.trim()) ||
      (photoInput && photoInput.files && photoInput.files.length));
  }

  /* ---- Field errors in the form -------------------------------------------------------- */

  function fieldBox(name) {
    if (name === "lng" || name === "lat") return document.getElementById("field-location");
    if (name === "region") return document.getElementById("field-place");
    return document.getElementById("field-" + name);
  }

  function clearErrors() {
    Array.prototype.forEach.call(form.querySelectorAll("[data-outbox-error]"), function (n) {
      var box = n.parentNode;
      n.remove();
      if (box && !box.querySelector(".field__errors")) box.classList.remove("field--error");
    });
    if (errorBox) errorBox.hidden = true;
  }

  function showErrors(errors) {
    clearErrors();
    var general = [];
    Object.keys(errors || {}).forEach(function (name) {
      var box = name === "__all__" ? null : fieldBox(name);
      if (!box) {
        general = general.concat(errors[name]);
        return;
      }
      var list = el("ul", "field__errors");
      list.id = "id_" + name + "_error";
      list.setAttribute("data-outbox-error", "");
      errors[name].forEach(function (message) {
        list.appendChild(el("li", "", message));
      });
      box.appendChild(list);
      box.classList.add("field--error");
    });
    if (!errorBox) return;
    var all = errorBox.querySelector("[data-outbox-errors-all]");
    all.textContent = "";
    general.forEach(function (message) {
      all.appendChild(el("p", "", message));
    });
    errorBox.hidden = false;
    errorBox.focus();
  }

  function fieldLabel(name) {
    var label = form.querySelector('label[for="id_' + name + '"]');
    return label ? label.textContent.trim() : "";
  }

  /* ---- The list ------------------------------------------------------------------------- */

  function when(ms) {
    try {
      return new Date(ms).toLocaleString(document.documentElement.lang || "zh-Hans", {
        timeZone: "Asia/Shanghai",
        month: "numeric",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
      });
    } catch (e) {
      return new Date(ms).toLocaleString();
    }
  }

  function photosText(n) {
    if (!n) return t("photosNone");
    return n === 1 ? t("photosOne") : t("photosMany", { n: n });
  }

  function statusText(item) {
    if (item.status === "retrying") return t("status:retrying", { time: when(item.next) });
    return t("status:" + item.status);
  }

  function row(item) {
    var li = el("li", "outbox__item outbox__item--" + item.status);
    li.setAttribute("data-outbox-item", item.id);
    li.setAttribute("data-status", item.status);
    var summary = item.summary || {};
    var head = el("p", "outbox__what");
    if (summary.category) head.appendChild(el("span", "outbox__category", summary.category));
    head.appendChild(el("strong", "outbox__item-title", summary.title || t("noTitle")));
    li.appendChild(head);
    li.appendChild(
      el("p", "outbox__meta", [photosText(item.photos.length), when(item.created)].join(" · "))
    );
    li.appendChild(el("p", "outbox__status", statusText(item)));
    var errors = item.errors || {};
    var names = Object.keys(errors);
    if (names.length && item.status !== "editing") {
      var list = el("ul", "outbox__errors field__errors");
      names.forEach(function (name) {
        var label = name === "__all__" ? "" : fieldLabel(name);
        errors[name].forEach(function (message) {
          list.appendChild(el("li", "", label ? label + ": " + message : message));
        });
      });
      li.appendChild(list);
    }
    var actions = el("p", "outbox__actions");
    if (item.status === "needs-sign-in" && item.user) {
      var link = el("a", "btn", t("signIn"));
      link.href = item.signIn || signInUrl;
      actions.appendChild(link);
    }
    if (canCarryPhotos && item.status !== "sending" && item.id !== editingId) {
      var edit = el("button", "btn", t("edit"));
      edit.type = "button";
      edit.setAttribute("data-outbox-edit", item.id);
      actions.appendChild(edit);
    }
    if (item.status !== "sending") {
      var drop = el("button", "link-button outbox__delete", t("delete"));
      drop.type = "button";
      drop.setAttribute("data-outbox-delete", item.id);
      actions.appendChild(drop);
    }
    li.appendChild(actions);
    return li;
  }

  function othersRow(others) {
    var li = el("li", "outbox__item outbox__item--others");
    li.setAttribute("data-outbox-others", String(others.length));
    li.appendChild(el("p", "outbox__status", t("others", { n: others.length })));
    if (
      others.some(function (item) {
        return !item.user;
      })
    ) {
      li.appendChild(el("p", "outbox__status", t("signedOutOnly")));
    }
    if (
      others.some(function (item) {
        return !!item.user;
      })
    ) {
      var actions = el("p", "outbox__actions");
      var link = el("a", "btn", t("signIn"));
      link.href = signInUrl;
      actions.appendChild(link);
      li.appendChild(actions);
    }
    return li;
  }

  function render() {
    return Q.list().then(function (items) {
      var waiting = items.filter(function (item) {
        return item.status !== "editing";
      }).length;
      countNode.textContent = waiting
        ? (waiting === 1 ? t("waitingOne") : t("waitingMany", { n: waiting }))
        : "";
      listNode.textContent = "";
      // Another account's reports on this phone: how many, never what they say (a title may
      // name a person), and nothing to delete them with.
      var others = items.filter(function (item) {
        return item.user !== me;
      });
      items.forEach(function (item) {
        if (item.user === me) listNode.appendChild(row(item));
      });
      if (others.length) listNode.appendChild(othersRow(others));
      sentNode.textContent = "";
      sent.forEach(function (s) {
        var li = el("li", "outbox__sent-item");
        var link = el("a", "", t("sent", { code: s.code }));
        link.href = s.url || "#";
        li.appendChild(link);
        if (s.title) li.appendChild(el("span", "outbox__sent-title", " " + s.title));
        sentNode.appendChild(li);
      });
      panel.hidden = !items.length && !sent.length && noteNode.hidden;
      return items;
    });
  }

  function note(text) {
    noteNode.textContent = text || "";
    noteNode.hidden = !text;
    panel.hidden = panel.hidden && !text;
  }

  /* ---- Sending by itself -------------------------------------------------------------------- */

  function registerSync() {
    if (!navigator.serviceWorker || !navigator.serviceWorker.getRegistration) return;
    navigator.serviceWorker.getRegistration().then(function (registration) {
      if (registration && registration.sync) {
        return registration.sync.register(Q.syncTag);
      }
    }).catch(function () {
      /* no Background Sync: the page's own events send it */
    });
  }

  function keep() {
    // The first report that waits: ask the browser not to clear our storage when it is short.
    if (persisted || !navigator.storage || !navigator.storage.persist) return;
    persisted = true;
    navigator.storage.persisted().then(function (already) {
      return already || navigator.storage.persist();
    }).catch(function () {});
  }

  function schedule(summary) {
    clearTimeout(retryTimer);
    if (summary && summary.retryAt) {
      var wait = Math.max(1000, Math.min(summary.retryAt - Date.now(), 30 * 60 * 1000));
      retryTimer = setTimeout(flush, wait);
    }
  }

  function flush() {
    if (navigator.onLine === false) return Promise.resolve(null);
    return Q.flush(pageOptions()).then(function (summary) {
      schedule(summary);
      return render().then(function () {
        return summary;
      });
    }).catch(function () {
      return null;
    });
  }

  function heard(message) {
    if (message && message.type === "sent") {
      sent.unshift({ code: message.code, url: message.url, title: message.title });
      if (message.id === editingId) editingId = null;
    }
    render();
  }

  if (window.BroadcastChannel) {
    var channel = new BroadcastChannel(Q.channelName);
    channel.onmessage = function (event) {
      heard(event.data);
    };
  }
  window.addEventListener("online", function () {
    note("");
    flush();
  });

  /* ---- Sending the form ------------------------------------------------------------------------ */

  function busy(on) {
    if (!submit) return;
    if (on) submit.setAttribute("aria-busy", "true");
    else submit.removeAttribute("aria-busy");
  }

  function store(item) {
    if (editingId === null) return Q.add(item);
    var id = editingId;
    if (!canCarryPhotos) delete item.photos; // the stored ones stay: the form had none of them
    item.status = "queued";
    item.errors = {};
    item.attempts = 0;
    item.next = 0;
    item.problem = "";
    return Q.update(id, item).then(function (stored) {
      return stored ? id : Q.add(item); // deleted meanwhile in another tab
    });
  }

  function waits(message) {
    editingId = null;
    R.clear();
    clearErrors();
    note(message);
    registerSync();
    busy(false);
    return render();
  }

  function take() {
    if (taking) return;
    taking = true;
    busy(true);
    clearErrors();
    store(itemFromForm())
      .then(function (id) {
        keep();
        if (navigator.onLine === false) return waits(t("queuedOffline"));
        return Q.send(id, pageOptions()).then(function (result) {
          if (result.outcome === "sent") {
            window.location.assign((result.answer && result.answer.done_url) || "/report/done/");
            return;
          }
          if (result.outcome === "fields") {
            // Back into the form to correct: out of the queue until it is sent again.
            editingId = id;
            var answer = result.answer || {};
            if (keyInput && answer.idempotency_key) keyInput.value = answer.idempotency_key;
            return Q.update(id, { status: "editing", was: "failed-fields" }).then(function () {
              busy(false);
              showErrors(answer.errors);
              return render();
            });
          }
          if (result.outcome === "sign-in") return waits(t("queuedSignIn"));
          return waits(t("queuedLater")).then(function () {
            schedule(result);
          });
        });
      })
      .catch(function () {
        busy(false);
        if (navigator.onLine === false) {
          // Nowhere to keep it and no connection to send it: the form keeps everything
          // (a plain post now would end on the browser's error page, photos lost).
          note(t("notKept"));
          return;
        }
        // No storage (full, refused): the plain form post, as without JavaScript.
        form.submit();
      })
      .then(function () {
        taking = false;
      });
  }

  form.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return; // report.js is still making the photos smaller
    event.preventDefault();
    take();
  });

  /* ---- Edit and delete ---------------------------------------------------------------------- */

  function putBack(id) {
    // The report the form held goes back to the queue with what the form holds now.
    var item = itemFromForm();
    item.status = "queued";
    item.errors = {};
    item.next = 0;
    return Q.update(id, item);
  }

  function edit(id) {
    Q.get(id).then(function (item) {
      if (!item || item.status === "sending" || item.user !== me) return;
      var before = Promise.resolve();
      if (editingId !== null && editingId !== id) {
        before = putBack(editingId);
      } else if (editingId === null && formHasContent() && !window.confirm(t("confirmReplace"))) {
        return;
      }
      return before
        .then(function () {
          // Taken out of the queue only if no sender took it meanwhile (the service worker
          // may be sending it now).
          return Q.update(id, function (current) {
            if (current.status === "sending") return null;
            return { status: "editing", was: current.status };
          });
        })
        .then(function (taken) {
          if (!taken) return render();
          item = taken;
          R.clear();
          loadIntoForm(item);
          editingId = id;
          if (item.errors && Object.keys(item.errors).length) showErrors(item.errors);
          else clearErrors();
          note("");
          render();
          form.scrollIntoView({ block: "start" });
        });
    });
  }

  listNode.addEventListener("click", function (event) {
    var editButton = event.target.closest("[data-outbox-edit]");
    if (editButton) {
      edit(Number(editButton.getAttribute("data-outbox-edit")));
      return;
    }
    var drop = event.target.closest("[data-outbox-delete]");
    if (drop && window.confirm(t("confirmDelete"))) {
      var id = Number(drop.getAttribute("data-outbox-delete"));
      if (id === editingId) editingId = null;
      Q.remove(id).then(render);
    }
  });

  /* ---- On load ------------------------------------------------------------------------------------ */

  Q.list()
    .then(function (items) {
      // A report under edit when the page was left: the form holds it again if report.js
      // restored its draft (same key); otherwise it goes back to the queue as it was.
      var key = keyInput ? keyInput.value : "";
      return Promise.all(
        items
          .filter(function (item) {
            return item.status === "editing";
          })
          .map(function (item) {
            var held = item.fields.some(function (pair) {
              return pair[0] === "idempotency_key" && pair[1] === key;
            });
            if (held && item.user === me && editingId === null) {
              editingId = item.id;
              return null;
            }
            var was = item.was === "failed-fields" || item.was === "needs-sign-in" ? item.was : "queued";
            return Q.update(item.id, { status: was });
          })
      );
    })
    .then(render)
    .then(function (items) {
      if (items.some(function (item) { return item.status !== "editing"; })) return flush();
    })
    .catch(function () {
      /* IndexedDB refused (private mode): the panel stays hidden */
    });
})();
