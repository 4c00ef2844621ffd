/* The editable assumptions panel (templates/_assumptions.html).
   The values that differ from the model travel in the page address (?access_kmh=40), so a view can be
   shared. A page that renders on the server reloads with the new address; a page that computes in the
   browser (data-live="true", /isochrones) keeps the address current and fires "geo:assumptions".
   Talks to nothing but this page's own address. */
"use strict";
var GeoAssumptions = (function () {
  var form = null, status = null, text = {};

  function fill(key, values) {
    var s = text[key] || key;
    Object.keys(values || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(values[k])); });
    return s;
  }

  function inputs() {
    return form ? Array.prototype.slice.call(form.querySelectorAll("input[type=number]")) : [];
  }

  /* The parameters whose value differs from the model's (an empty field means the model's value). */
  function params() {
    var p = new URLSearchParams();
    inputs().forEach(function (el) {
      var v = el.value.trim();
      if (v === "" || (el.dataset.model !== "" && Number(v) === Number(el.dataset.model))) { return; }
      p.set(el.name, v);
    });
    return p;
  }

  function firstInvalid() {
    return inputs().filter(function (el) { return !el.validity.valid; })[0] || null;
  }

  /* This page's address with the parameters in use (the other query arguments kept). */
  function address() {
    var url = new URL(window.location.href);
    inputs().forEach(function (el) { url.searchParams.delete(el.name); });
    params().forEach(function (v, k) { url.searchParams.set(k, v); });
    return url;
  }

  function setStatus(msg, isError) {
    if (!status) { return; }
    status.textContent = msg;
    status.className = "small" + (isError ? " error" : "");
  }

  function changed() {
    var bad = firstInvalid();
    if (bad) {
      setStatus(fill("invalid", {name: bad.dataset.label || bad.name, lo: bad.min, hi: bad.max}), true);
      return;
    }
    var url = address();
    if (form.dataset.live === "true") {
      window.history.replaceState(null, "", url.toString());
      setStatus("", false);
      var banner = document.getElementById("assumption-changed");  // drawn for the values the page opened with
      if (banner) { banner.hidden = true; }
      document.dispatchEvent(new CustomEvent("geo:assumptions", {detail: params()}));
      return;
    }
    if (url.toString() === window.location.href) { return; }
    setStatus(fill("computing"), false);
    window.location.assign(url.toString());
  }

  function reset(ev) {
    if (form.dataset.live !== "true") { return; }  // the link's own address is the page without them
    ev.preventDefault();
    inputs().forEach(function (el) { el.value = el.dataset.model; });
    changed();
  }

  function init(opts) {
    form = document.getElementById("assumption-form");
    if (!form) { return; }
    text = (opts && opts.text) || {};
    status = document.getElementById("assumption-status");
    form.addEventListener("change", changed);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); changed(); });
    var link = document.getElementById("assumption-reset");
    if (link) { link.addEventListener("click", reset); }
  }

  return {init: init, params: params};
})();
