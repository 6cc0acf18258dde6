/* fengqiao — the report form on a phone (/report/) and its done page.
 *
 * The form works without this file (a plain multipart POST). This adds, where the phone
 * can: the map pin (Leaflet) with "use my location" and the located grid shown at once,
 * the category filter, the open cases already reported near the pin (htmx, on the
 * "pin-changed" event), more complainant rows, smaller photos for a weak connection, and a
 * draft of the typed text kept in localStorage until the report is sent.
 */
(function () {
  "use strict";

  var stringsNode = document.getElementById("intake-strings");
  var T = stringsNode ? JSON.parse(stringsNode.textContent) : {};

  function t(key, values) {
    var text = T[key] || key;
    if (values) {
      text = text.replace(/%\((\w+)\)s/g, function (_, name) {
        return values[name] !== undefined ? values[name] : "";
      });
    }
    return text;
  }

  function storage() {
    try {
      var probe = "__fengqiao__";
      window.localStorage.setItem(probe, probe);
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null; // private mode, storage full or disabled: no draft, the form still works
    }
  }

  /* ---- The done page: the report is in, forget the draft ------------------------------ */
  var done = document.querySelector("[data-clear-draft]");
  if (done) {
    var store = storage();
    if (store) store.removeItem(done.getAttribute("data-clear-draft"));
    return;
  }

  var form = document.getElementById("report-form");
  if (!form) return;

  /* ---- Category filter ---------------------------------------------------------------- */
  (function categoryFilter() {
    var box = form.querySelector("[data-category-filter]");
    var select = document.getElementById("id_category");
    if (!box || !select) return;
    var input = box.querySelector("input");
    var count = box.querySelector("[data-category-count]");
    box.hidden = false;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      var matches = [];
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return; // the "choose" prompt stays
        var hay = (option.getAttribute("data-search") || "") + " " + option.text.toLowerCase();
        var hit = !q || hay.indexOf(q) !== -1;
        option.hidden = !hit;
        option.disabled = !hit;
        if (hit) matches.push(option);
      });
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
      if (!q) {
        count.textContent = "";
      } else if (!matches.length) {
        count.textContent = t("noMatch");
      } else {
        count.textContent = t("matches", { n: matches.length });
        if (matches.length === 1) {
          select.value = matches[0].value;
          select.dispatchEvent(new Event("change", { bubbles: true }));
        }
      }
    });
  })();

  /* ---- Map pin, "use my location", the located grid ------------------------------------ */
  var lngInput = document.getElementById("id_lng");
  var latInput = document.getElementById("id_lat");
  var status = form.querySelector("[data-located]");
  var clearButton = form.querySelector("[data-clear-pin]");
  var locateUrl = form.getAttribute("data-locate-url");
  var map = null;
  var marker = null;
  var lookup = 0;

  // The open cases near the pin (templates/grievances/_intake_nearby.html): htmx asks for
  // them again on this event, with the point and the category.
  function pinChanged() {
    document.body.dispatchEvent(new CustomEvent("pin-changed", { bubbles: true }));
  }

  function say(text, kind) {
    if (!status) return;
    status.textContent = text;
    status.className = "location__status" + (kind ? " location__status--" + kind : "");
  }

  function showLocated(lat, lng) {
    var mine = ++lookup;
    var url = locateUrl + "?lng=" + encodeURIComponent(lng) + "&lat=" + encodeURIComponent(lat);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (mine !== lookup) return;
        if (response.status === 404) {
          say(t("outside"), "problem");
          return;
        }
        if (!response.ok) throw new Error(String(response.status));
        return response.json().then(function (hit) {
          if (mine !== lookup) return;
          var names = (hit.path || []).slice(-3).map(function (r) { return r.name; });
          say(t("located", { name: names.join(" › ") || hit.name }), "ok");
          var grid = document.getElementById("id_grid");
          if (grid && grid.tagName === "SELECT") {
            var option = grid.querySelector('option[value="' + hit.code + '"]');
            if (option) grid.value = hit.code;
          }
        });
      })
      .catch(function () {
        if (mine === lookup) say(t("locateFailed"));
      });
  }

  function setPoint(lat, lng, pan) {
    lat = Math.round(lat * 1e6) / 1e6;
    lng = Math.round(lng * 1e6) / 1e6;
    latInput.value = lat;
    lngInput.value = lng;
    if (map) {
      if (!marker) {
        marker = window.L.marker([lat, lng], { draggable: true, keyboard: true, autoPan: true });
        marker.addTo(map);
        marker.on("dragend", function () {
          var p = marker.getLatLng();
          setPoint(p.lat, p.lng, false);
        });
      } else {
        marker.setLatLng([lat, lng]);
      }
      if (pan) map.setView([lat, lng], Math.max(map.getZoom(), 16));
    }
    if (clearButton) clearButton.hidden = false;
    say(t("locating"));
    showLocated(lat, lng);
    pinChanged();
    saveSoon();
  }

  function clearPoint() {
    lookup++;
    latInput.value = "";
    lngInput.value = "";
    if (marker) {
      marker.remove();
      marker = null;
    }
    if (clearButton) clearButton.hidden = true;
    say(t("pinRemoved"));
    pinChanged();
    saveSoon();
  }

  (function setUpMap() {
    var wrap = form.querySelector("[data-map-wrap]");
    var node = document.getElementById("report-map");
    if (!wrap || !node || !lngInput || !latInput) return;
    wrap.hidden = false;
    if (window.L) {
      var center = (node.getAttribute("data-center") || "29.23,91.77").split(",").map(Number);
      map = window.L.map(node, { zoomControl: true }).setView(
        center,
        Number(node.getAttribute("data-zoom") || 8)
      );
      var loaded = 0;
      var failed = 0;
      var tiles = window.L.tileLayer(node.getAttribute("data-tiles"), {
        attribution: node.getAttribute("data-attribution") || "",
        maxZoom: 19,
      });
      tiles
        .on("tileload", function () {
          loaded++;
        })
        .on("tileerror", function () {
          // No internet for the map background: the pin and the GPS still work. Stop
          // asking for tiles after a few failures, so a weak connection is not spent on them.
          failed++;
          if (failed === 1 && !status.textContent) say(t("tilesOffline"));
          if (failed >= 8 && !loaded && map.hasLayer(tiles)) map.removeLayer(tiles);
        })
        .addTo(map);
      map.on("click", function (e) {
        setPoint(e.latlng.lat, e.latlng.lng, false);
      });
    } else {
      node.hidden = true; // Leaflet did not load: the buttons and the place search remain
    }
    var me = form.querySelector("[data-locate-me]");
    me.addEventListener("click", function () {
      if (!navigator.geolocation) {
        say(t("noGeolocation"), "problem");
        return;
      }
      say(t("locating"));
      me.setAttribute("aria-busy", "true");
      navigator.geolocation.getCurrentPosition(
        function (position) {
          me.removeAttribute("aria-busy");
          setPoint(position.coords.latitude, position.coords.longitude, true);
        },
        function () {
          me.removeAttribute("aria-busy");
          say(t("geolocationDenied"), "problem");
        },
        { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
      );
    });
    if (clearButton) clearButton.addEventListener("click", clearPoint);
    // A point sent with a form that came back with errors: show it again.
    if (lngInput.value && latInput.value) {
      setPoint(Number(latInput.value), Number(lngInput.value), true);
    }
  })();

  /* ---- The worker's own grids on the map ------------------------------------------------ */
  // Their boundaries come from the site, not from the tiles: without internet (the service
  // worker keeps this answer) the map still shows where the grids lie around the pin.
  (function drawMyGrids() {
    var node = document.getElementById("report-map");
    var url = node && node.getAttribute("data-grids-url");
    if (!map || !url) return;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (grids) {
        if (!grids || !grids.features || !grids.features.length) return;
        var layer = window.L.geoJSON(grids, {
          interactive: false, // a tap inside a grid still places the pin
          style: { color: "#17467a", weight: 2, fillOpacity: 0.06 },
        }).addTo(map);
        layer.bringToBack();
      })
      .catch(function () {
        /* no boundaries: the map and the pin work as before */
      });
  })();

  /* ---- More complainants ---------------------------------------------------------------- */
  var addPerson = form.querySelector("[data-add-person]");
  var template = document.getElementById("person-template");
  var total = form.querySelector('input[name="people-TOTAL_FORMS"]');

  function appendPerson(focus) {
    var index = Number(total.value);
    var html = template.innerHTML
      .replace(/__prefix__/g, String(index))
      .replace(/__number__/g, String(index + 1));
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    form.querySelector("[data-people]").appendChild(row);
    total.value = String(index + 1);
    if (focus) {
      var first = row.querySelector("input:not([type=hidden])");
      if (first) first.focus();
    }
    return row;
  }

  if (addPerson && template && total) {
    addPerson.hidden = false;
    addPerson.addEventListener("click", function () {
      appendPerson(true);
      saveSoon();
    });
  }

  /* ---- Smaller photos for a weak connection ----------------------------------------------- */
  var photos = document.getElementById("id_photos");
  var photoStatus = form.querySelector("[data-photo-status]");
  var shrinking = 0;
  var submitWhenReady = false;
  var MAX_SIDE = 1600;

  function sizeText(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.round(bytes / 1024) + " KB";
  }

  function shrink(file) {
    return new Promise(function (resolve) {
      if (!/^image\/(jpeg|png|webp)$/.test(file.type) || file.size < 400 * 1024) {
        resolve(file);
        return;
      }
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        var scale = Math.min(1, MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(img.naturalWidth * scale);
        canvas.height = Math.round(img.naturalHeight * scale);
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob(
          function (blob) {
            if (!blob || blob.size >= file.size) {
              resolve(file);
              return;
            }
            var name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
            resolve(new File([blob], name, { type: "image/jpeg", lastModified: file.lastModified }));
          },
          "image/jpeg",
          0.82
        );
      };
      img.onerror = function () {
        URL.revokeObjectURL(url);
        resolve(file);
      };
      img.src = url;
    });
  }

  // Shrink new photos; the status line says what it saved. Resolves with the files to send.
  function prepare(files) {
    var before = files.reduce(function (sum, f) { return sum + f.size; }, 0);
    shrinking++;
    photoStatus.textContent = t("shrinking");
    return Promise.all(files.map(shrink)).then(function (smaller) {
      var after = smaller.reduce(function (sum, f) { return sum + f.size; }, 0);
      photoStatus.textContent = after < before
        ? t("shrunk", { before: sizeText(before), after: sizeText(after) })
        : "";
      shrinking--;
      // After whoever asked has put the smaller files in the input (a later task).
      setTimeout(function () {
        if (!shrinking && submitWhenReady) {
          submitWhenReady = false;
          form.requestSubmit ? form.requestSubmit() : form.submit();
        }
      }, 0);
      return smaller;
    });
  }

  if (photos && window.fengqiaoPhotos) {
    // static/js/photo_picker.js keeps the list of photos and asks this to shrink new ones.
    window.fengqiaoPhotos.prepare = prepare;
  } else if (photos && window.DataTransfer && window.Promise && window.URL) {
    photos.addEventListener("change", function () {
      var files = Array.prototype.slice.call(photos.files || []);
      if (!files.length) return;
      prepare(files).then(function (smaller) {
        try {
          var dt = new DataTransfer();
          smaller.forEach(function (f) { dt.items.add(f); });
          photos.files = dt.files; // does not fire "change" again
        } catch (e) {
          photoStatus.textContent = ""; // keep the originals
        }
      });
    });
  }

  /* ---- Sending ------------------------------------------------------------------------- */
  var submit = form.querySelector("[data-submit]");
  form.addEventListener("submit", function (event) {
    if (shrinking) {
      event.preventDefault();
      submitWhenReady = true;
      return;
    }
    saveNow();
    if (submit) submit.setAttribute("aria-busy", "true");
  });
  window.addEventListener("pageshow", function () {
    if (submit) submit.removeAttribute("aria-busy");
  });

  /* ---- The draft: typed text kept on the phone until the report is sent ----------------- */
  var store = storage();
  var key = form.getAttribute("data-draft-key");
  var timer = null;

  /* The report's idempotency key: made here, kept with the draft, so that sending the same
     report again (the answer lost, a reload) makes no second case. The done page forgets the
     draft: the next report gets a new key. */
  var keyInput = form.querySelector('input[name="idempotency_key"]');
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b); // plain HTTP: no randomUUID, but random values
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }
  // A form the server sent back keeps the key it was sent with (or a new one it gave).
  if (keyInput && form.getAttribute("data-bound") !== "1") keyInput.value = newKey();

  function draftable(el) {
    if (!el.name || el.disabled) return false;
    if (el.type === "file" || el.name === "csrfmiddlewaretoken") return false;
    if (el.getAttribute("data-draft") === "off") return false;
    if (el.type === "hidden") {
      return el.name === "lng" || el.name === "lat" || el.name === "idempotency_key";
    }
    return el.id !== "category-filter";
  }

  function collect() {
    var fields = {};
    var filled = false;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!draftable(el)) return;
      if (el.type === "checkbox") {
        fields[el.name] = el.checked;
        if (el.checked) filled = true;
      } else if (el.type === "radio") {
        if (el.checked) {
          fields[el.name] = el.value;
          var label = el.closest("label");
          fields["__label:" + el.name] = label ? label.textContent.trim() : el.value;
        }
      } else {
        fields[el.name] = el.value;
        if (el.value && el.tagName !== "SELECT" && el !== keyInput) filled = true;
      }
    });
    return {
      filled: filled,
      draft: {
        v: 1,
        saved: Date.now(),
        people: total ? Number(total.value) : 0,
        fields: fields,
      },
    };
  }

  function saveNow() {
    if (!store) return;
    clearTimeout(timer);
    var result = collect();
    try {
      if (result.filled) store.setItem(key, JSON.stringify(result.draft));
      else store.removeItem(key);
    } catch (e) {
      /* storage full: nothing more to do */
    }
  }

  function saveSoon() {
    if (!store) return;
    clearTimeout(timer);
    timer = setTimeout(saveNow, 400);
  }

  function restore(draft) {
    if (total) {
      while (Number(total.value) < draft.people) appendPerson(false);
    }
    var fields = draft.fields || {};
    Object.keys(fields).forEach(function (name) {
      if (name.indexOf("__label:") === 0) return;
      var value = fields[name];
      var els = form.querySelectorAll('[name="' + name.replace(/"/g, "") + '"]');
      if (!els.length && (name === "region" || name === "grid") && value) {
        // A place chosen from search results: put the choice back.
        var results = document.getElementById("place-results");
        if (results) {
          var label = document.createElement("label");
          label.className = "place-result";
          var radio = document.createElement("input");
          radio.type = "radio";
          radio.name = name;
          radio.value = value;
          radio.checked = true;
          var span = document.createElement("span");
          span.textContent = fields["__label:" + name] || value;
          label.appendChild(radio);
          label.appendChild(span);
          results.appendChild(label);
        }
        return;
      }
      Array.prototype.forEach.call(els, function (el) {
        if (!draftable(el)) return;
        if (el.type === "checkbox") el.checked = !!value;
        else if (el.type === "radio") el.checked = el.value === value;
        else el.value = value;
      });
    });
    if (fields.lng && fields.lat) setPoint(Number(fields.lat), Number(fields.lng), true);
  }

  if (store) {
    var note = document.querySelector("[data-draft-note]");
    // A form the server sent back (errors) holds the newest input: the draft stays as is.
    if (form.getAttribute("data-bound") !== "1") {
      var raw = store.getItem(key);
      var draft = null;
      try {
        draft = raw ? JSON.parse(raw) : null;
      } catch (e) {
        draft = null;
      }
      if (draft && draft.v === 1) {
        restore(draft);
        if (note) {
          note.querySelector("[data-draft-text]").textContent = t("draftRestored");
          note.hidden = false;
          note.querySelector("[data-draft-discard]").addEventListener("click", function () {
            store.removeItem(key);
            window.location.reload();
          });
        }
      }
    }
    form.addEventListener("input", saveSoon);
    form.addEventListener("change", saveSoon);
    window.addEventListener("pagehide", saveNow);
  }

  /* ---- For the report queue (static/js/report_outbox.js) ---------------------------------- */
  window.FengqiaoReport = {
    shrinking: function () { return shrinking > 0; },
    newKey: newKey,
    // Load a saved report into the form (the draft's shape: {people, fields}).
    load: function (draft) { restore(draft); saveSoon(); },
    // The form empty for the next report: a new key, the pin and the draft gone.
    clear: function () {
      clearTimeout(timer);
      form.reset();
      if (latInput && latInput.value) {
        clearPoint();
        say("");
      }
      if (keyInput) keyInput.value = newKey();
      if (photoStatus) photoStatus.textContent = "";
      if (window.fengqiaoPhotos && window.fengqiaoPhotos.clear) window.fengqiaoPhotos.clear();
      else if (photos) photos.dispatchEvent(new Event("change", { bubbles: true }));
      clearTimeout(timer); // clearPoint asked for a save
      if (store) store.removeItem(key);
    },
  };

  /* ---- After a failed send: take the reader to what needs fixing -------------------------- */
  var errors = document.getElementById("report-errors");
  if (errors) errors.focus();
})();
