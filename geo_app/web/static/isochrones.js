/* Click-to-compute isochrones. Talks only to this server's /api/isochrones. */
"use strict";
var ISO_COLORS = ["#1a9850", "#91cf60", "#d9ef8b", "#fc8d59", "#d73027", "#a50026"];

/* The page's texts come from the server's catalogue (opts.text); {name} placeholders are filled here. */
var ISO_TEXT = {};
function isoText(key, values) {
  var s = ISO_TEXT[key] || key;
  Object.keys(values || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(values[k])); });
  return s;
}

function initIsochrones(map, opts) {
  ISO_TEXT = (opts && opts.text) || {};
  var layer = null, lowLayer = null, marker = null, last = null, point = null;
  map.createPane("isochrones").style.zIndex = 350;  // under the roads, rail and markers of the context
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
    if (window.GeoAssumptions) {  // the assumption values in use (the editable panel)
      GeoAssumptions.params().forEach(function (v, k) { p.set(k, v); });
    }
    return p;
  }

  function drawLegend(fc) {
    legend.textContent = "";
    var table = document.createElement("table");
    table.className = "data";
    var head = table.insertRow();
    var people = fc.population ? [isoText("people")] : [];
    [isoText("minutes"), isoText("area"), isoText("low_col")].concat(people).forEach(function (h) {
      var th = document.createElement("th"); th.textContent = h; head.appendChild(th);
    });
    fc.features.forEach(function (f, i) {
      var row = table.insertRow();
      var c0 = row.insertCell();
      var sw = document.createElement("span");
      sw.className = "swatch"; sw.style.background = ISO_COLORS[Math.min(i, ISO_COLORS.length - 1)];
      c0.appendChild(sw);
      c0.appendChild(document.createTextNode(" ≤ " + f.properties.minutes));
      row.insertCell().textContent = GeoMaps.fmt.km2(f.properties.area_km2);
      var low = f.properties.share_low_confidence;
      var lc = row.insertCell();
      lc.className = "small low-confidence-share";
      lc.textContent = low === null || low === undefined ? "—" : GeoMaps.fmt.share(low);
      if (fc.population) {
        var p = f.properties.population_within;
        row.insertCell().textContent = p === null || p === undefined ? "—" : Math.round(p).toLocaleString();
      }
    });
    legend.appendChild(table);
    var lowInfo = fc.low_confidence && fc.low_confidence.properties;
    if (lowInfo && lowInfo.share !== null && lowInfo.share !== undefined) {
      var lowNote = document.createElement("p");
      lowNote.className = "small low-confidence-note";
      lowNote.textContent = isoText("low_confidence", {minutes: lowInfo.offnet_max_min,
                                                       share: GeoMaps.fmt.share(lowInfo.share)});
      legend.appendChild(lowNote);
    }
    if (fc.population) {
      var note = document.createElement("p");
      note.className = "small muted population-note";
      note.textContent = isoText("population", {year: fc.population.year, source: fc.population.source});
      legend.appendChild(note);
    }
  }

  function draw(fc) {
    if (layer) { map.removeLayer(layer); }
    var order = fc.features.map(function (f) { return f.properties.minutes; });
    var features = fc.features.filter(function (f) { return f.geometry; }).slice().reverse();
    layer = L.geoJSON({type: "FeatureCollection", features: features}, {
      style: function (f) {
        var c = ISO_COLORS[Math.min(order.indexOf(f.properties.minutes), ISO_COLORS.length - 1)];
        return {color: c, weight: 1, fillColor: c, fillOpacity: 0.4, className: "isochrone", pane: "isochrones",
                bubblingMouseEvents: true};
      },
      onEachFeature: function (f, l) {
        l.bindTooltip(isoText("tooltip", {minutes: f.properties.minutes,
                                          km2: GeoMaps.fmt.km2(f.properties.area_km2)}));
      }
    }).addTo(map);
    if (lowLayer) { map.removeLayer(lowLayer); lowLayer = null; }
    if (fc.low_confidence && fc.low_confidence.geometry) {  // hatched: the time rests on the access assumption
      lowLayer = L.geoJSON(fc.low_confidence, {
        style: function () {
          return {color: "#444", weight: 0, fillColor: "#444", fillOpacity: 0.25, className: "low-confidence",
                  pane: "isochrones", interactive: false};
        }
      }).addTo(map);
    }
    if (layer.getLayers().length) {  // the map fits the result (the point stays in view)
      map.fitBounds(layer.getBounds().extend(marker.getLatLng()), {animate: false, padding: [12, 12]});
    }
    drawLegend(fc);
  }

  function compute(lon, lat) {
    var p = query(lon, lat);
    if (marker) { map.removeLayer(marker); }
    marker = L.circleMarker([lat, lon], {radius: 6, color: "#000", fillColor: "#fff", fillOpacity: 1,
                                         interactive: false, className: "iso-origin"}).addTo(map);
    point = [lon, lat];
    setStatus(isoText("computing"), false);
    last = p;
    var headers = {"Accept-Language": document.documentElement.lang || "zh"};
    fetch("/api/isochrones?" + p.toString(), {headers: headers}).then(function (r) {
      return r.json().then(function (body) { return {ok: r.ok, body: body}; });
    }).then(function (res) {
      if (p !== last) { return; }
      if (!res.ok) {
        setStatus(res.body.error ? res.body.error.message : isoText("failed"), true);
        return;
      }
      draw(res.body);
      var n = res.body.features.filter(function (f) { return f.geometry; }).length;
      setStatus(isoText("done", {n: n, cell: res.body.cell_m}), false);
      p.set("download", "1");
      download.href = "/api/isochrones?" + p.toString();
      download.hidden = false;
    }).catch(function (e) { setStatus(String(e), true); });
  }

  setStatus(isoText("pick_hint"), false);
  // A click anywhere computes, also on a marker or a line (GeoMaps.pick forwards marker clicks).
  GeoMaps.pick(map, function (ll) { compute(ll.lng, ll.lat); });
  ["iso-minutes", "iso-mode", "iso-direction"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", function () {
      if (point) { compute(point[0], point[1]); }  // recompute for the last point
    });
  });
  document.addEventListener("geo:assumptions", function () {  // a changed assumption: recompute the last point
    if (point) { compute(point[0], point[1]); }
  });
  window.geoIsochrones = {compute: compute};
}
