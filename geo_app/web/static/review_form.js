/* The siting review form: a click on the map (or on a marker) sets lon/lat; a picked project fills its sector. */
"use strict";
function initReviewForm(map) {
  var lon = document.getElementById("lon"), lat = document.getElementById("lat");
  var pick = document.getElementById("project_pick"), sector = document.getElementById("sector");
  var marker = null;
  function place(lo, la) {
    if (marker) { map.removeLayer(marker); }
    marker = L.circleMarker([la, lo], {radius: 8, color: "#c0392b", fillColor: "#fff", fillOpacity: 1,
                                       className: "site-marker", interactive: false}).addTo(map);
  }
  // A click anywhere places the site, also on a marker or a line (GeoMaps.pick forwards marker clicks).
  GeoMaps.pick(map, function (ll) {
    lon.value = ll.lng.toFixed(6);
    lat.value = ll.lat.toFixed(6);
    place(ll.lng, ll.lat);
  });
  [lon, lat].forEach(function (input) {
    input.addEventListener("change", function () {
      var lo = parseFloat(lon.value), la = parseFloat(lat.value);
      if (isFinite(lo) && isFinite(la)) { place(lo, la); }
    });
  });
  pick.addEventListener("change", function () {
    var opt = pick.options[pick.selectedIndex];
    if (opt && opt.dataset.sector) { sector.value = opt.dataset.sector; }
  });
  var lo0 = parseFloat(lon.value), la0 = parseFloat(lat.value);
  if (isFinite(lo0) && isFinite(la0)) { place(lo0, la0); }
}
