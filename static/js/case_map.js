/* The case detail's map: one point on the tiles of settings.MAP_TILE_URL.
   The page stays usable without it: the coordinates are printed below the map, and when
   tiles cannot load the point is still drawn and a note says so. */
(function () {
  "use strict";
  function init() {
    var el = document.getElementById("case-map");
    if (!el || typeof L === "undefined") return;
    var lat = parseFloat(el.dataset.lat);
    var lng = parseFloat(el.dataset.lng);
    if (!isFinite(lat) || !isFinite(lng)) return;
    el.classList.add("case-map--ready");
    var map = L.map(el, { scrollWheelZoom: false }).setView([lat, lng], 15);
    if (el.dataset.tiles) {
      var failed = false;
      L.tileLayer(el.dataset.tiles, {
        maxZoom: 19,
        attribution: el.dataset.attribution || ""
      })
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
    L.circleMarker([lat, lng], {
      radius: 9,
      weight: 3,
      color: "#ffffff",
      fillColor: "#b3261e",
      fillOpacity: 1
    }).addTo(map);
    L.circle([lat, lng], { radius: 60, weight: 1, color: "#b3261e", fillOpacity: 0.08 }).addTo(map);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
