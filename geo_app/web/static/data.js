/* /data page: upload -> report -> apply; draw a polygon or point and save it into a layer; undo.
   Talks only to this server. Every POST sends the CSRF token from <meta name="csrf-token">.
   User text is only ever inserted with textContent (never innerHTML). */
"use strict";

/* The page's texts come from the server's catalogue (opts.text); {name} placeholders are filled here. */
var DATA_TEXT = {};
function dataText(key, values) {
  var s = DATA_TEXT[key] || key;
  Object.keys(values || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(values[k])); });
  return s;
}

/* Error messages come back in the page's language. */
function pageLang() { return document.documentElement.lang || "zh"; }

function csrfToken() {
  var m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.getAttribute("content") : "";
}

function postJSON(url, body) {
  return fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json",
              "Accept-Language": pageLang()},
    body: JSON.stringify(body)
  }).then(readAnswer);
}

function readAnswer(r) {
  return r.text().then(function (t) {
    var body = null;
    try { body = JSON.parse(t); } catch (e) { body = {error: {message: "HTTP " + r.status}}; }
    return {ok: r.ok, status: r.status, body: body};
  });
}

/* Labels for the Leaflet.draw toolbar and tooltips in the page language (the library ships
   English only); must run before the control is created, which reads L.drawLocal then. */
function localiseDraw(local) {
  var d = local.draw, e = local.edit, T = dataText;
  d.toolbar.actions = {title: T("draw_cancel_title"), text: T("draw_cancel")};
  d.toolbar.finish = {title: T("draw_finish_title"), text: T("draw_finish")};
  d.toolbar.undo = {title: T("draw_undo_title"), text: T("draw_undo")};
  d.toolbar.buttons.polygon = T("draw_polygon");
  d.toolbar.buttons.rectangle = T("draw_rectangle");
  d.toolbar.buttons.circlemarker = T("draw_point");
  d.handlers.polygon.tooltip = {start: T("draw_polygon_start"), cont: T("draw_polygon_cont"),
                                end: T("draw_polygon_end")};
  d.handlers.polyline.error = T("draw_crossing");
  d.handlers.rectangle.tooltip = {start: T("draw_rectangle_start")};
  d.handlers.simpleshape.tooltip = {end: T("draw_release")};
  d.handlers.circlemarker.tooltip = {start: T("draw_point_start")};
  e.toolbar.actions = {save: {title: T("edit_save_title"), text: T("edit_save")},
                       cancel: {title: T("edit_cancel_title"), text: T("edit_cancel")},
                       clearAll: {title: T("edit_clear_title"), text: T("edit_clear")}};
  e.toolbar.buttons = {edit: T("edit_edit"), editDisabled: T("edit_edit_none"),
                       remove: T("edit_remove"), removeDisabled: T("edit_remove_none")};
  e.handlers.edit.tooltip = {text: T("edit_drag"), subtext: T("edit_drag_sub")};
  e.handlers.remove.tooltip = {text: T("edit_remove_click")};
}

/* A history entry's source: the uploaded file's name, or "drawn: NAME" said in the page language. */
function sourceText(source) {
  var m = /^drawn(?::\s*(.*))?$/.exec(source);
  if (!m) { return source; }
  return m[1] ? dataText("source_drawn_name", {name: m[1]}) : dataText("source_drawn");
}

/* Put a history entry (as the server returned it) at the top of "recent changes". */
function addHistory(entry, layers) {
  var list = document.getElementById("history-list");
  if (!list || !entry) { return; }
  var empty = list.querySelector(".history-empty");
  if (empty) { list.removeChild(empty); }
  var info = (layers || {})[entry.layer];
  var parts = [String(entry.time || "").slice(0, 16).replace("T", " "), info ? info.title : entry.layer,
               DATA_TEXT["action_" + entry.action] || entry.action];
  if (entry.source) { parts.push(sourceText(String(entry.source))); }
  ["author", "note"].forEach(function (k) { if (entry[k]) { parts.push(entry[k]); } });
  var li = document.createElement("li");
  li.textContent = parts.join(" · ");
  list.insertBefore(li, list.firstChild);
}

function errorText(res) {
  return (res.body && res.body.error && res.body.error.message) || ("HTTP " + res.status);
}

function initDataPage(map, opts) {
  var layers = opts.layers || {};
  DATA_TEXT = opts.text || {};
  var status = document.getElementById("data-status");
  var uploadToken = null;

  function setStatus(msg, isError) {
    status.textContent = msg;
    status.className = "small" + (isError ? " error" : "");
  }

  // ---- upload -> report -> apply --------------------------------------------------
  // The uploaded features on a small map (over the county boundary) before "apply"; no tiles.
  var previewBox = document.getElementById("import-preview"), previewMap = null, previewLayer = null;
  function showPreview(fc) {
    if (!previewBox) { return; }
    var empty = !fc || !fc.features || !fc.features.length;
    previewBox.hidden = empty;
    if (empty) { return; }
    if (!previewMap) {
      previewMap = L.map(previewBox, {attributionControl: false, zoomControl: true});
      fetch("/api/layers/boundary", {credentials: "same-origin"}).then(function (r) { return r.json(); })
        .then(function (b) { L.geoJSON(b, {interactive: false, style: {color: "#c0392b", weight: 2, fill: false}})
          .addTo(previewMap); }).catch(function () {});
    }
    if (previewLayer) { previewMap.removeLayer(previewLayer); }
    previewLayer = L.geoJSON(fc, {
      style: {color: "#1f618d", weight: 2, fillOpacity: 0.25},
      pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 5, color: "#1f618d", fillOpacity: 0.8}); },
      onEachFeature: function (f, l) {
        if (!f.properties || !f.properties.name) { return; }
        var tip = document.createElement("span");
        tip.textContent = String(f.properties.name);  /* a name from the file: text, never HTML */
        l.bindTooltip(tip);
      }
    }).addTo(previewMap);
    previewMap.invalidateSize();
    previewMap.fitBounds(previewLayer.getBounds(), {padding: [10, 10], maxZoom: 13});
  }
  var form = document.getElementById("upload-form");
  var report = document.getElementById("import-report");
  var applyBox = document.getElementById("apply-box");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    uploadToken = null;
    applyBox.hidden = true;
    setStatus(dataText("reading"), false);
    fetch("/data/upload", {method: "POST", body: new FormData(form), credentials: "same-origin",
                           headers: {"X-CSRFToken": csrfToken(), "Accept": "application/json",
                                     "Accept-Language": pageLang()}})
      .then(readAnswer).then(function (res) {
        if (!res.ok) {
          report.hidden = true;
          showPreview(null);
          setStatus(errorText(res), true);
          if (window.offerSourceLayers) { window.offerSourceLayers(res); }  /* several layers: data.html */
          return;
        }
        report.textContent = res.body.text;
        report.hidden = false;
        showPreview(res.body.preview);
        uploadToken = res.body.token;
        applyBox.hidden = !res.body.ok;
        setStatus(res.body.ok ? dataText("checks_passed") : dataText("blocked"), !res.body.ok);
      }).catch(function (e) { setStatus(String(e), true); });
  });
  document.getElementById("apply-button").addEventListener("click", function () {
    if (!uploadToken) { return; }
    postJSON("/data/apply", {token: uploadToken, note: document.getElementById("apply-note").value})
      .then(function (res) {
        if (!res.ok) { setStatus(errorText(res), true); return; }
        uploadToken = null;
        applyBox.hidden = true;
        addHistory(res.body.entry, layers);
        setStatus(dataText("imported"), false);
      });
  });

  // ---- undo -------------------------------------------------------------------------
  // Only layers with a change to undo are offered (none: no button); the reader confirms first.
  var undoButton = document.getElementById("undo-button");
  if (undoButton) undoButton.addEventListener("click", function () {
    var select = document.getElementById("undo-layer");
    var layer = select.value, option = select.options[select.selectedIndex];
    var ask = dataText("undo_confirm", {layer: option.getAttribute("data-title") || layer,
                                        change: option.getAttribute("data-change") || ""});
    if (!window.confirm(ask)) { return; }
    postJSON("/data/undo", {layer: layer}).then(function (res) {
      if (!res.ok) { setStatus(errorText(res), true); return; }
      addHistory(res.body.entry, layers);
      setStatus(dataText("undone", {layer: (layers[layer] || {}).title || layer}), false);
    });
  });

  // ---- drawing ----------------------------------------------------------------------
  var drawn = new L.FeatureGroup().addTo(map);
  var saved = new L.FeatureGroup().addTo(map);
  var drawForm = document.getElementById("draw-form");
  var layerSelect = document.getElementById("draw-layer");
  var nameInput = document.getElementById("draw-name");
  var sectorsBox = document.getElementById("draw-sectors");
  var pending = null;

  localiseDraw(L.drawLocal);
  map.addControl(new L.Control.Draw({
    position: "topleft",
    draw: {polygon: {allowIntersection: false, showArea: true}, rectangle: {}, circlemarker: {},
           marker: false, polyline: false, circle: false},
    edit: {featureGroup: drawn, edit: false, remove: true}
  }));

  function kindOf(layerType) {
    return (layerType === "marker" || layerType === "circlemarker") ? "point" : "polygon";
  }

  function fillNames() {
    var info = layers[layerSelect.value] || {names: [], missing: []};
    var list = document.getElementById("draw-names");
    list.textContent = "";
    info.missing.concat(info.names.filter(function (n) { return info.missing.indexOf(n) < 0; }))
      .forEach(function (n) { var o = document.createElement("option"); o.value = n; list.appendChild(o); });
    sectorsBox.hidden = layerSelect.value !== "parks";
  }

  function openForm(kind) {
    layerSelect.textContent = "";
    Object.keys(layers).forEach(function (name) {
      if (layers[name].geometry !== kind) { return; }
      var o = document.createElement("option");
      o.value = name; o.textContent = layers[name].title;
      layerSelect.appendChild(o);
    });
    var preferred = kind === "point" ? "logistics" : "parks";
    if (layers[preferred]) { layerSelect.value = preferred; }
    fillNames();
    drawForm.hidden = false;
    nameInput.focus();
  }

  layerSelect.addEventListener("change", fillNames);

  map.on(L.Draw.Event.CREATED, function (e) {
    if (pending) { drawn.removeLayer(pending.layer); }
    pending = {layer: e.layer, kind: kindOf(e.layerType)};
    drawn.addLayer(e.layer);
    openForm(pending.kind);
    setStatus(dataText("give_name"), false);
  });

  document.getElementById("draw-cancel").addEventListener("click", function () {
    if (pending) { drawn.removeLayer(pending.layer); pending = null; }
    drawForm.hidden = true;
  });

  document.getElementById("draw-save").addEventListener("click", function () {
    if (!pending) { return; }
    var layer = layerSelect.value;
    var sectors = Array.prototype.slice.call(sectorsBox.querySelectorAll("input:checked"))
      .map(function (i) { return i.value; });
    var body = {geometry: pending.layer.toGeoJSON().geometry, name: nameInput.value,
                note: document.getElementById("draw-note").value};
    if (layer === "parks") { body.sectors = sectors; }
    postJSON("/api/data/" + encodeURIComponent(layer) + "/features", body).then(function (res) {
      if (!res.ok) { setStatus(errorText(res), true); return; }
      var done = pending.layer;
      drawn.removeLayer(done);
      saved.addLayer(done);
      var label = document.createElement("span");
      label.textContent = res.body.name;
      done.bindTooltip(label, {permanent: false});
      if (done.setStyle) { done.setStyle({color: "#1e8449", dashArray: null}); }
      pending = null;
      drawForm.hidden = true;
      nameInput.value = "";
      addHistory(res.body.entry, layers);
      var where = (layers[layer] || {}).title || layer;
      setStatus(dataText(res.body.filled ? "filled" : "saved", {name: res.body.name, layer: where}), false);
    });
  });
}
