/* /data page: upload -> report -> apply; draw a polygon or point and save it into a layer; undo.
   Talks only to this server. Every POST sends the CSRF token from <meta name="csrf-token">.
   User text is only ever inserted with textContent (never innerHTML). */
"use strict";

function dataText(lang, zh, en) { return lang === "en" ? en : zh; }

function csrfToken() {
  var m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.getAttribute("content") : "";
}

function postJSON(url, body) {
  return fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json"},
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

/* Chinese labels for the Leaflet.draw toolbar and tooltips (the library ships English only);
   must run before the control is created, which reads L.drawLocal then. */
function localiseDraw(local) {
  var d = local.draw, e = local.edit;
  d.toolbar.actions = {title: "取消绘制", text: "取消"};
  d.toolbar.finish = {title: "完成绘制", text: "完成"};
  d.toolbar.undo = {title: "删除最后画的一个点", text: "删除最后一点"};
  d.toolbar.buttons.polygon = "画多边形（园区、乡镇）";
  d.toolbar.buttons.rectangle = "画矩形（园区、乡镇）";
  d.toolbar.buttons.circlemarker = "放置点（物流枢纽）";
  d.handlers.polygon.tooltip = {start: "单击地图开始画。", cont: "单击继续画下一个点。",
                                end: "单击第一个点闭合图形，或点“完成”。"};
  d.handlers.polyline.error = "<strong>错误：</strong>边线不能交叉！";
  d.handlers.rectangle.tooltip = {start: "按住鼠标拖动画矩形。"};
  d.handlers.simpleshape.tooltip = {end: "松开鼠标完成。"};
  d.handlers.circlemarker.tooltip = {start: "单击地图放置点。"};
  e.toolbar.actions = {save: {title: "保存修改", text: "保存"},
                       cancel: {title: "取消编辑，放弃全部修改", text: "取消"},
                       clearAll: {title: "清除所有未保存的图形", text: "全部清除"}};
  e.toolbar.buttons = {edit: "编辑图形", editDisabled: "没有可编辑的图形",
                       remove: "删除未保存的图形", removeDisabled: "没有可删除的图形"};
  e.handlers.edit.tooltip = {text: "拖动控制点编辑图形。", subtext: "点“取消”放弃修改。"};
  e.handlers.remove.tooltip = {text: "单击要删除的图形。"};
}

/* Put a history entry (as the server returned it) at the top of "recent changes". */
function addHistory(entry) {
  var list = document.getElementById("history-list");
  if (!list || !entry) { return; }
  var empty = list.querySelector(".history-empty");
  if (empty) { list.removeChild(empty); }
  var parts = [String(entry.time || "").slice(0, 16).replace("T", " "), entry.layer, entry.action];
  ["source", "author", "note"].forEach(function (k) { if (entry[k]) { parts.push(entry[k]); } });
  var li = document.createElement("li");
  li.textContent = parts.join(" · ");
  list.insertBefore(li, list.firstChild);
}

function errorText(res) {
  return (res.body && res.body.error && res.body.error.message) || ("HTTP " + res.status);
}

function initDataPage(map, opts) {
  var lang = opts.lang || "zh";
  var layers = opts.layers || {};
  var status = document.getElementById("data-status");
  var uploadToken = null;

  function setStatus(msg, isError) {
    status.textContent = msg;
    status.className = "small" + (isError ? " error" : "");
  }

  // ---- upload -> report -> apply --------------------------------------------------
  var form = document.getElementById("upload-form");
  var report = document.getElementById("import-report");
  var applyBox = document.getElementById("apply-box");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    uploadToken = null;
    applyBox.hidden = true;
    setStatus(dataText(lang, "正在读取和校验…", "Reading and validating…"), false);
    fetch("/data/upload", {method: "POST", body: new FormData(form), credentials: "same-origin",
                           headers: {"X-CSRFToken": csrfToken(), "Accept": "application/json"}})
      .then(readAnswer).then(function (res) {
        if (!res.ok) { report.hidden = true; setStatus(errorText(res), true); return; }
        report.textContent = res.body.text;
        report.hidden = false;
        uploadToken = res.body.token;
        applyBox.hidden = !res.body.ok;
        setStatus(res.body.ok ? dataText(lang, "校验通过，可以应用。", "Checks passed: you can apply it.")
                              : dataText(lang, "有阻止导入的问题，见报告。", "Blocked: see the report."), !res.body.ok);
      }).catch(function (e) { setStatus(String(e), true); });
  });
  document.getElementById("apply-button").addEventListener("click", function () {
    if (!uploadToken) { return; }
    postJSON("/data/apply", {token: uploadToken, note: document.getElementById("apply-note").value})
      .then(function (res) {
        if (!res.ok) { setStatus(errorText(res), true); return; }
        uploadToken = null;
        applyBox.hidden = true;
        addHistory(res.body.entry);
        setStatus(dataText(lang, "已导入；地图和报表已使用新数据。", "Imported: maps and tables now use the new data."),
                  false);
      });
  });

  // ---- undo -------------------------------------------------------------------------
  document.getElementById("undo-button").addEventListener("click", function () {
    var layer = document.getElementById("undo-layer").value;
    postJSON("/data/undo", {layer: layer}).then(function (res) {
      if (!res.ok) { setStatus(errorText(res), true); return; }
      addHistory(res.body.entry);
      setStatus(dataText(lang, "已撤销：", "Undone: ") + layer + " (" + res.body.entry.restored + ")", false);
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

  if (lang !== "en") { localiseDraw(L.drawLocal); }
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
    setStatus(dataText(lang, "填写名称后保存。", "Give it a name, then save."), false);
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
      addHistory(res.body.entry);
      setStatus((res.body.filled ? dataText(lang, "已补全位置：", "Location filled in: ")
                                 : dataText(lang, "已保存：", "Saved: ")) + res.body.name + " → " + layer, false);
    });
  });
}
