/* Click-to-compute isochrones. Talks only to this server's /api/isochrones. */
"use strict";
var ISO_COLORS = ["#1a9850", "#91cf60", "#d9ef8b", "#fc8d59", "#d73027", "#a50026"];

function isoText(lang, zh, en) { return lang === "en" ? en : zh; }

function initIsochrones(map, opts) {
  var lang = (opts && opts.lang) || "zh";
  var layer = null, marker = null, last = null;
  var status = document.getElementById("iso-status");
  var legend = document.getElementById("iso-legend");
  var download = document.getElementById("iso-download");

  function setStatus(msg, isError) {
    status.textContent = msg;
    status.className = "small" + (isError ? " error" : "");
  }

  function query(lon, lat) {
    var p = new URLSearchParams();
    p.set("lon", lon.toFixed(6));
    p.set("lat", lat.toFixed(6));
    p.set("minutes", document.getElementById("iso-minutes").value.replace(/\s+/g, ""));
    p.set("mode", document.getElementById("iso-mode").value);
    p.set("direction", document.getElementById("iso-direction").value);
    return p;
  }

  function drawLegend(fc) {
    legend.textContent = "";
    var table = document.createElement("table");
    table.className = "data";
    var head = table.insertRow();
    [isoText(lang, "分钟", "min"), isoText(lang, "面积 km²", "area km²")].forEach(function (h) {
      var th = document.createElement("th"); th.textContent = h; head.appendChild(th);
    });
    fc.features.forEach(function (f, i) {
      var row = table.insertRow();
      var c0 = row.insertCell();
      var sw = document.createElement("span");
      sw.className = "swatch"; sw.style.background = ISO_COLORS[Math.min(i, ISO_COLORS.length - 1)];
      c0.appendChild(sw);
      c0.appendChild(document.createTextNode(" ≤ " + f.properties.minutes));
      row.insertCell().textContent = f.properties.area_km2 === null ? "—" : f.properties.area_km2.toFixed(1);
    });
    legend.appendChild(table);
  }

  function draw(fc) {
    if (layer) { map.removeLayer(layer); }
    var order = fc.features.map(function (f) { return f.properties.minutes; });
    var features = fc.features.filter(function (f) { return f.geometry; }).slice().reverse();
    layer = L.geoJSON({type: "FeatureCollection", features: features}, {
      style: function (f) {
        var c = ISO_COLORS[Math.min(order.indexOf(f.properties.minutes), ISO_COLORS.length - 1)];
        return {color: c, weight: 1, fillColor: c, fillOpacity: 0.4, className: "isochrone"};
      },
      onEachFeature: function (f, l) {
        l.bindTooltip("≤ " + f.properties.minutes + " min · " + (f.properties.area_km2 || 0).toFixed(0) + " km²");
      }
    }).addTo(map);
    drawLegend(fc);
  }

  function compute(lon, lat) {
    var p = query(lon, lat);
    if (marker) { map.removeLayer(marker); }
    marker = L.circleMarker([lat, lon], {radius: 6, color: "#000", fillColor: "#fff", fillOpacity: 1}).addTo(map);
    setStatus(isoText(lang, "计算中…", "Computing…"), false);
    last = p;
    fetch("/api/isochrones?" + p.toString()).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; });
    }).then(function (res) {
      if (p !== last) { return; }
      if (!res.ok) {
        setStatus(res.body.error ? res.body.error.message : "error", true);
        return;
      }
      draw(res.body);
      var n = res.body.features.filter(function (f) { return f.geometry; }).length;
      setStatus(isoText(lang, "已计算 " + n + " 条等时线（格网 " + res.body.cell_m + " 米）",
                        n + " contours computed (" + res.body.cell_m + " m cells)"), false);
      p.set("download", "1");
      download.href = "/api/isochrones?" + p.toString();
      download.hidden = false;
    }).catch(function (e) { setStatus(String(e), true); });
  }

  map.on("click", function (e) { compute(e.latlng.lng, e.latlng.lat); });
  window.geoIsochrones = {compute: compute};
}
