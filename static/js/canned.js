// The canned-reply picker (常用语) of the case page's act forms. Each textarea that names a
// kind (data-canned="rejection|return|result|visit") and its case (data-canned-case) gets a
// button; it asks /desk/canned/ for the county's replies of that kind for the case's
// category, and a click on one inserts its text at the cursor, where it can be edited.
// Labels and the address come from the knowledge card's data attributes (no inline script).
(function () {
  "use strict";

  function setup() {
    var card = document.getElementById("case-knowledge-card");
    if (!card) return;
    var url = card.getAttribute("data-canned-url");
    var fields = document.querySelectorAll("textarea[data-canned][data-canned-case]");
    Array.prototype.forEach.call(fields, function (area) {
      attach(area, url, card);
    });
  }

  function insert(area, text) {
    var start = area.selectionStart, end = area.selectionEnd, value = area.value;
    if (typeof start !== "number" || document.activeElement !== area) {
      start = end = value.length;
    }
    var before = value.slice(0, start), after = value.slice(end);
    area.value = before + text + after;
    area.focus();
    var at = before.length + text.length;
    area.setSelectionRange(at, at);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function attach(area, url, card) {
    var box = document.createElement("div");
    box.className = "canned";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn--small canned__toggle";
    button.textContent = card.getAttribute("data-canned-label");
    button.setAttribute("aria-expanded", "false");
    var list = document.createElement("ul");
    list.className = "canned__list";
    list.hidden = true;
    box.appendChild(button);
    box.appendChild(list);
    area.parentNode.insertBefore(box, area);
    var loaded = false;

    function say(text) {
      var li = document.createElement("li");
      li.className = "canned__empty muted small";
      li.textContent = text;
      list.appendChild(li);
    }

    function show(replies) {
      list.textContent = "";
      if (!replies.length) {
        say(card.getAttribute("data-canned-empty"));
        return;
      }
      replies.forEach(function (reply) {
        var li = document.createElement("li");
        var pick = document.createElement("button");
        pick.type = "button";
        pick.className = "canned__pick";
        pick.textContent = reply.text;
        pick.addEventListener("click", function () {
          insert(area, reply.text);
          list.hidden = true;
          button.setAttribute("aria-expanded", "false");
        });
        li.appendChild(pick);
        list.appendChild(li);
      });
    }

    button.addEventListener("click", function () {
      var open = list.hidden;
      list.hidden = !open;
      button.setAttribute("aria-expanded", open ? "true" : "false");
      if (!open || loaded) return;
      loaded = true;
      var query = "?kind=" + encodeURIComponent(area.getAttribute("data-canned")) +
        "&case=" + encodeURIComponent(area.getAttribute("data-canned-case"));
      fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error(String(r.status));
          return r.json();
        })
        .then(function (body) { show(body.replies || []); })
        .catch(function () {
          loaded = false;
          list.textContent = "";
          say(card.getAttribute("data-canned-failed"));
        });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
