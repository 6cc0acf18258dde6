/* The console's map: the cases of the current page as points on the tiles of
   settings.MAP_TILE_URL, redrawn when htmx swaps the results. Open by default on wide
   screens; on a phone it opens on demand. When tiles cannot load, the points are still
   drawn and a note says so. */
(function () {
  "use strict";
  var map = null;
  var layer = null;

  function points() {
    var node = document.getElementById("console-map-points");
    if (!node) return [];
    try {
      return JSON.parse(node.textContent) || [];
    } catch (e) {
      return [];
    }
  }

  function draw() {
    if (!map) return;
    layer.clearLayers();
    var bounds = [];
    points().forEach(function (p) {
      var marker = L.circleMarker([p.lat, p.lng], {
        radius: 8,
        weight: 2,
        color: "#ffffff",
        fillColor: p.late ? "#b3261e" : "#17467a",
        fillOpacity: 1
      });
      var link = document.createElement("a");
      link.href = p.url;
      link.textContent = p.code + " · " + p.title;
      marker.bindPopup(link);
      marker.on("click", function () {
        marker.openPopup();
      });
      layer.addLayer(marker);
      bounds.push([p.lat, p.lng]);
    });
    if (bounds.length === 1) {
      map.setView(bounds[0], 14);
    } else if (bounds.length > 1) {
      map.fitBounds(bounds, { padding: [24, 24], maxZoom: 15 });
    }
  }

  function init() {
    var el = document.getElementById("console-map");
    if (!el || map || typeof L === "undefined") return;
    el.classList.add("case-map--ready");
    map = L.map(el, { scrollWheelZoom: false }).setView([35, 104], 4);
    layer = L.layerGroup().addTo(map);
    if (el.dataset.tiles) {
      var failed = false;
      L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" })
        .on("tileerror", function () {
          if (failed) return;
          failed = true;
          el.classList.add("case-map--no-tiles");
          var note = document.createElement("p");
          note.className = "case-map__note";
          note.textContent = el.dataset.tileError || "";
          el.parentNode.insertBefore(note, el.nextSibling);
        })
        .addTo(map);
    }
    draw();
  }

  function start() {
    var card = document.getElementById("console-map-card");
    if (!card) return;
    card.addEventListener("toggle", function () {
      if (card.open) {
        init();
        if (map) map.invalidateSize();
      }
    });
    if (window.matchMedia && window.matchMedia("(min-width: 64rem)").matches) {
      card.open = true;
      init();
    }
    document.body.addEventListener("htmx:afterSettle", draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
