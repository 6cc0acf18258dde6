/* fengqiao — the photos of the report form (/report/): a thumbnail of each chosen photo with
 * its remove button, more photos added to those already chosen (the file input on its own
 * replaces them), and the count against the limit of a report.
 *
 * The chosen photos stay IN the file input (#id_photos), set through DataTransfer: whatever
 * reads the form reads the current list. Photos the server held from an earlier send
 * (grids.held) come first; without this file their ticked box keeps them, with it they get
 * the same remove button (removing one drops its box, so its token is not sent).
 *
 * Another script may set window.fengqiaoPhotos.prepare: a function from an array of new Files
 * to a Promise of the Files to keep in their place (report.js makes large photos smaller).
 * window.fengqiaoPhotos.clear() empties the list, .replace(files) puts these files in its
 * place (the report queue's edit, static/js/report_outbox.js).
 */
(function () {
  "use strict";

  var box = document.querySelector("[data-photo-picker]");
  var input = document.getElementById("id_photos");
  if (!box || !input || !window.DataTransfer || !window.URL || !window.Promise) return;
  try {
    new DataTransfer(); // Safari before 14.1 has the name but no constructor
  } catch (e) {
    return;
  }

  var list = box.querySelector("[data-photo-previews]");
  var count = box.querySelector("[data-photo-count]");
  var max = Number(box.getAttribute("data-max")) || 9;
  var chosen = []; // {file: File, url: object URL}, in the order they were added
  var note = "";
  var api = (window.fengqiaoPhotos = { prepare: null });

  function label(name, values) {
    return (box.getAttribute("data-" + name + "-label") || "").replace(/%\((\w+)\)s/g, function (_, key) {
      return values[key] !== undefined ? values[key] : "";
    });
  }

  function heldItems() {
    return list.querySelectorAll("[data-held]");
  }

  function toInput() {
    var dt = new DataTransfer();
    chosen.forEach(function (entry) {
      dt.items.add(entry.file);
    });
    input.files = dt.files; // does not fire "change"
    input.dispatchEvent(new CustomEvent("photos-changed", { bubbles: true }));
  }

  function removeButton(onRemove) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "photo-preview__remove";
    button.setAttribute("data-remove", "");
    button.innerHTML =
      '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">' +
      '<path d="M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z"/></svg>';
    button.addEventListener("click", function () {
      var item = button.closest(".photo-preview");
      var next = item.nextElementSibling || item.previousElementSibling;
      onRemove(item);
      note = "";
      renumber();
      // Keep the keyboard where it was: the next photo's button, else the file input.
      var target = next && next.isConnected ? next.querySelector("[data-remove]") : null;
      (target || input).focus();
    });
    return button;
  }

  function renumber() {
    var items = list.querySelectorAll(".photo-preview");
    Array.prototype.forEach.call(items, function (item, i) {
      var n = i + 1;
      item.querySelector("img").alt = label("photo", { n: n });
      item.querySelector("[data-remove]").setAttribute("aria-label", label("remove", { n: n }));
    });
    list.hidden = !items.length;
    var text = items.length ? label("count", { n: items.length, max: max }) : "";
    count.textContent = note ? (text ? text + " " : "") + note : text;
  }

  function chosenItem(entry) {
    var item = document.createElement("li");
    item.className = "photo-preview";
    item.setAttribute("data-chosen", "");
    var img = document.createElement("img");
    img.className = "photo-preview__img";
    img.src = entry.url;
    img.width = 96;
    img.height = 96;
    item.appendChild(img);
    item.appendChild(
      removeButton(function (node) {
        var at = chosen.indexOf(entry);
        if (at !== -1) chosen.splice(at, 1);
        URL.revokeObjectURL(entry.url);
        node.remove();
        toInput();
      })
    );
    return item;
  }

  // Photos held by the server: the remove button instead of the box.
  Array.prototype.forEach.call(heldItems(), function (item) {
    var keep = item.querySelector("[data-keep]");
    if (keep) keep.hidden = true;
    item.appendChild(
      removeButton(function (node) {
        node.remove(); // with its ticked box: the token is not sent
      })
    );
  });
  renumber();

  function add(added) {
    var room = Math.max(0, max - heldItems().length - chosen.length);
    var left = Math.max(0, added.length - room);
    added = added.slice(0, room);
    note = left ? label("over", { max: max, n: left }) : "";
    var entries = added.map(function (file) {
      return { file: file, url: URL.createObjectURL(file) };
    });
    chosen = chosen.concat(entries);
    toInput();
    entries.forEach(function (entry) {
      list.appendChild(chosenItem(entry));
    });
    renumber();
    if (api.prepare && added.length) {
      api.prepare(added).then(function (ready) {
        entries.forEach(function (entry, i) {
          if (ready && ready[i]) entry.file = ready[i];
        });
        toInput();
      });
    }
  }

  // No photo at all: the form emptied for the next report.
  api.clear = function () {
    chosen.forEach(function (entry) {
      URL.revokeObjectURL(entry.url);
    });
    chosen = [];
    note = "";
    Array.prototype.forEach.call(list.querySelectorAll(".photo-preview"), function (item) {
      item.remove(); // held ones with their box: their tokens are not sent
    });
    toInput();
    renumber();
  };

  // These photos instead of those chosen (a queued report loaded back for editing).
  api.replace = function (files) {
    api.clear();
    add(Array.prototype.slice.call(files || []));
  };

  input.addEventListener("change", function () {
    var added = Array.prototype.slice.call(input.files || []);
    if (!added.length) {
      toInput(); // a dialog closed without a choice: the list stays as it was
      return;
    }
    add(added);
  });
})();
