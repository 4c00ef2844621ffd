/* Map helpers shared by every page: labels that fit, zoom-gated layers, pick mode,
   a compact attribution, and the one number format (the same as geo_app/web/maps/numbers.py).
   Loaded after Leaflet; talks to nothing but the map it is given. */
"use strict";
var GeoMaps = (function () {
  var states = [];

  function state(map) {
    for (var i = 0; i < states.length; i++) { if (states[i].map === map) { return states[i]; } }
    var s = {map: map, labelSets: [], gated: [], timer: null};
    states.push(s);
    map.on("zoomend", function () { syncZoom(s); schedule(s); });
    map.on("moveend overlayadd overlayremove resize", function () { schedule(s); });
    map.whenReady(function () { syncZoom(s); schedule(s); });
    return s;
  }

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  /* A layer that belongs to `group` only from `minZoom` on (the layer control still toggles the group). */
  function gate(s, group, layer, minZoom) {
    s.gated.push({group: group, layer: layer, minZoom: minZoom});
  }

  function syncZoom(s) {
    var z = s.map.getZoom();
    s.gated.forEach(function (g) {
      var on = z >= g.minZoom;
      if (on && !g.group.hasLayer(g.layer)) { g.group.addLayer(g.layer); }
      if (!on && g.group.hasLayer(g.layer)) { g.group.removeLayer(g.layer); }
    });
  }

  function schedule(s) {
    if (s.timer !== null) { return; }
    s.timer = window.setTimeout(function () { s.timer = null; declutter(s); }, 0);
  }

  function overlaps(a, b) {
    return !(a.right + 3 < b.left || a.left - 3 > b.right || a.bottom + 1 < b.top || a.top - 1 > b.bottom);
  }

  /* Hide every label cut by the map's edge or overlapping a label of higher priority (greedy). */
  function declutter(s) {
    var entries = [];
    s.labelSets.forEach(function (set) {
      if (!s.map.hasLayer(set.layer)) { return; }
      set.layer.eachLayer(function (mk) {
        if (mk._icon) { entries.push({el: mk._icon, p: mk.options.geoPriority || 0}); }
      });
    });
    entries.forEach(function (e) { e.el.classList.remove("map-label-hidden"); });
    entries.sort(function (a, b) { return b.p - a.p; });
    var view = s.map.getContainer().getBoundingClientRect();
    var kept = [];
    entries.forEach(function (e) {
      var r = e.el.getBoundingClientRect();
      if (r.right < view.left || r.left > view.right || r.bottom < view.top || r.top > view.bottom) { return; }
      var cut = r.left < view.left || r.right > view.right || r.top < view.top || r.bottom > view.bottom;
      if (cut || kept.some(function (k) { return overlaps(r, k); })) {
        e.el.classList.add("map-label-hidden");
      } else {
        kept.push(r);
      }
    });
  }

  /* Permanent labels of one layer: items are [lat, lon, text, priority]; shown from minZoom on. */
  function labels(map, group, opts) {
    var s = state(map);
    var layer = L.layerGroup();
    opts.items.forEach(function (it) {
      var icon = L.divIcon({className: "map-label label-" + opts.cls, html: escapeHtml(it[2]),
                            iconSize: null, iconAnchor: [-7, 9]});
      layer.addLayer(L.marker([it[0], it[1]], {icon: icon, interactive: false, keyboard: false,
                                               geoPriority: it[3]}));
    });
    s.labelSets.push({layer: layer, cls: opts.cls});
    gate(s, group, layer, opts.minZoom);
    syncZoom(s);
    return layer;
  }

  /* A sub-layer of a group shown only from minZoom on (e.g. stations without a name). */
  function minZoom(map, group, layer, z) {
    var s = state(map);
    gate(s, group, layer, z);
    syncZoom(s);
  }

  /* Pick mode: a click anywhere calls handler(latlng), also a click on a point marker.
     Markers lose their popups (the tooltip stays) and stop the click from reaching the map
     twice; lines and polygons drawn with interactive:false let it through. */
  function pick(map, handler) {
    function wire(layer) {
      // folium binds popups to the GeoJSON group, which a marker's click reaches whatever it does
      if (layer.getPopup && layer.getPopup()) { layer.unbindPopup(); }
      if (layer._geoPick || !(layer instanceof L.CircleMarker || layer instanceof L.Marker)) { return; }
      if (layer.options.interactive === false) { return; }
      layer._geoPick = true;
      layer.unbindPopup();
      layer.options.bubblingMouseEvents = false;
      layer.on("click", function (e) {
        L.DomEvent.stop(e);
        handler(e.latlng);
      });
    }
    map.eachLayer(wire);
    map.on("layeradd", function (e) { wire(e.layer); });
    map.on("click", function (e) { handler(e.latlng); });
    map.getContainer().classList.add("geo-pick");
  }

  /* The attribution shrinks to one line (the scale bar stays visible); a click opens it. */
  function compactAttribution(map, title) {
    var ctl = map.attributionControl;
    if (!ctl) { return; }
    var el = ctl.getContainer();
    el.classList.add("geo-attr-compact");
    if (title) { el.setAttribute("title", title); }
    L.DomEvent.on(el, "click", function (e) {
      if (e.target && e.target.tagName === "A") { return; }
      el.classList.toggle("geo-attr-open");
    });
    L.DomEvent.disableClickPropagation(el);
  }

  function fixed(value, digits) {
    var text = Math.abs(value).toFixed(digits);
    var parts = text.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var sign = value < 0 && Number(text) !== 0 ? "-" : "";
    return sign + parts.join(".");
  }

  function missing(v) { return v === null || v === undefined || !isFinite(v); }

  var fmt = {
    km2: function (v) { return missing(v) ? "—" : fixed(Math.max(v, 0), 1); },
    minutes: function (v) { return missing(v) ? "—" : fixed(v, 0); },
    share: function (v) {
      if (missing(v)) { return "—"; }
      var x = Math.min(Math.max(v, 0), 1);
      if (x === 0 || x === 1) { return (x * 100).toFixed(0) + "%"; }
      var text = fixed(x * 100, 1);
      if (text === "0.0") { return "<0.1%"; }
      if (text === "100.0") { return ">99.9%"; }
      return text + "%";
    }
  };

  return {labels: labels, minZoom: minZoom, pick: pick, compactAttribution: compactAttribution,
          declutter: function (map) { declutter(state(map)); }, fmt: fmt};
}());
