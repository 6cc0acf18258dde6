/* The dashboard's charts (Apache ECharts) and map (Leaflet + leaflet.heat).
   The page is whole without them: the numbers are printed in tables. Each htmx swap of
   #dash-results brings new data (JSON in <script type="application/json">, the map's from
   its data-url), so everything is drawn again after a swap. When tiles cannot load, the
   areas and the heat are still drawn on a plain background and a note says so. */
(function () {
  "use strict";

  var charts = [];
  var map = null;

  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    try {
      return JSON.parse(el.textContent);
    } catch (e) {
      return null;
    }
  }

  function disposeAll() {
    charts.forEach(function (chart) {
      chart.dispose();
    });
    charts = [];
    if (map) {
      map.remove();
      map = null;
    }
  }

  // --- Charts ---------------------------------------------------------------------------

  var FONT =
    'system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", ' +
    '"Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Zen Hei", sans-serif';

  function baseOption(data) {
    return {
      animation: false,
      textStyle: { fontFamily: FONT },
      grid: { left: 8, right: 12, top: 36, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", confine: true },
      xAxis: {
        type: "category",
        data: data.labels,
        axisLabel: { hideOverlap: true, color: "#5a6676" },
        axisLine: { lineStyle: { color: "#d8dfe8" } }
      }
    };
  }

  function drawCharts() {
    if (typeof echarts === "undefined") return;
    var data = readJSON("dash-trend-data");
    if (!data) return;
    var intakeEl = document.getElementById("dash-chart-intake");
    var ratesEl = document.getElementById("dash-chart-rates");
    if (intakeEl) {
      var intake = echarts.init(intakeEl, null, { renderer: "canvas" });
      var option = baseOption(data);
      option.legend = { top: 0, left: 0, data: [data.names.intake] };
      option.yAxis = {
        type: "value",
        minInterval: 1,
        axisLabel: { color: "#5a6676" },
        splitLine: { lineStyle: { color: "#edf0f4" } }
      };
      option.series = [
        {
          name: data.names.intake,
          type: "bar",
          data: data.intake,
          itemStyle: { color: "#17467a", borderRadius: [3, 3, 0, 0] },
          barMaxWidth: 28
        }
      ];
      intake.setOption(option);
      charts.push(intake);
    }
    if (ratesEl) {
      var rates = echarts.init(ratesEl, null, { renderer: "canvas" });
      var keys = ["response", "resolution", "satisfaction"];
      var opt = baseOption(data);
      opt.legend = {
        top: 0,
        left: 0,
        data: keys.map(function (k) {
          return data.names[k];
        })
      };
      opt.tooltip.valueFormatter = function (v) {
        return v === null || v === undefined ? "—" : v + "%";
      };
      opt.yAxis = {
        type: "value",
        min: 0,
        max: 100,
        axisLabel: { formatter: "{value}%", color: "#5a6676" },
        splitLine: { lineStyle: { color: "#edf0f4" } }
      };
      opt.series = keys.map(function (k) {
        return {
          name: data.names[k],
          type: "line",
          data: data.rates[k],
          connectNulls: false,
          symbolSize: 6,
          lineStyle: { width: 2.5, color: data.colours[k] },
          itemStyle: { color: data.colours[k] }
        };
      });
      rates.setOption(opt);
      charts.push(rates);
    }
  }

  // --- The map ----------------------------------------------------------------------------

  function note(el, text) {
    var p = document.getElementById("dash-map-note");
    if (!p || !text) return;
    p.textContent = p.textContent ? p.textContent + " " + text : text;
    p.hidden = false;
  }

  function drawMap() {
    var el = document.getElementById("dash-map");
    if (!el || typeof L === "undefined") return;
    var center = (el.dataset.center || "29.6,91.1").split(",").map(parseFloat);
    map = L.map(el, { scrollWheelZoom: false, zoomSnap: 0.5 }).setView(center, 8);
    if (el.dataset.tiles) {
      var failed = false;
      L.tileLayer(el.dataset.tiles, { maxZoom: 18, attribution: el.dataset.attribution || "" })
        .on("tileerror", function () {
          if (failed) return;
          failed = true;
          el.classList.add("dash-map--no-tiles");
          note(el, el.dataset.tileError);
        })
        .addTo(map);
    } else {
      el.classList.add("dash-map--no-tiles");
    }
    var current = map;
    fetch(el.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) {
        if (map !== current) return; // swapped meanwhile
        var areas = L.geoJSON(data.areas, {
          style: function () {
            return { color: "#17467a", weight: 1.5, fillColor: "#17467a", fillOpacity: 0.06 };
          },
          onEachFeature: function (feature, layer) {
            var props = feature.properties || {};
            layer.bindTooltip(props.name || "", { sticky: true, className: "dash-area-label" });
            if (props.url) {
              layer.on("click", function () {
                window.location.href = props.url;
              });
            }
          }
        }).addTo(map);
        var bounds = areas.getBounds();
        if (data.points && data.points.length) {
          if (typeof L.heatLayer === "function") {
            L.heatLayer(data.points, { radius: 18, blur: 14, maxZoom: 13, minOpacity: 0.35 }).addTo(
              map
            );
          } else {
            data.points.forEach(function (p) {
              L.circleMarker(p, { radius: 3, weight: 0, fillColor: "#b3261e", fillOpacity: 0.6 }).addTo(
                map
              );
            });
          }
          if (!bounds.isValid()) bounds = L.latLngBounds(data.points);
        } else {
          note(el, el.dataset.empty);
        }
        if (data.capped) note(el, el.dataset.capped);
        if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
      })
      .catch(function () {
        note(el, el.dataset.loadError);
      });
  }

  // --- Filters ----------------------------------------------------------------------------

  function wireFilters() {
    var custom = document.getElementById("dash-period-custom");
    if (!custom) return;
    // Typing a date means "from … to …": tick it before the form's change handler runs.
    document.querySelectorAll(".dash-date").forEach(function (input) {
      input.addEventListener("change", function () {
        custom.checked = true;
      });
    });
  }

  function drawAll() {
    disposeAll();
    drawCharts();
    drawMap();
  }

  function init() {
    wireFilters();
    drawAll();
    document.body.addEventListener("htmx:afterSettle", function (event) {
      if (event.target && event.target.id === "dash-results") drawAll();
    });
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        charts.forEach(function (chart) {
          chart.resize();
        });
      }, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
