/* The siting review form: click the map to set lon/lat; a picked project fills its sector. */
"use strict";
function initReviewForm(map) {
  var lon = document.getElementById("lon"), lat = document.getElementById("lat");
  var pick = document.getElementById("project_pick"), sector = document.getElementById("sector");
  var marker = null;
  function place(lo, la) {
    if (marker) { map.removeLayer(marker); }
    marker = L.circleMarker([la, lo], {radius: 8, color: "#c0392b", fillColor: "#fff", fillOpacity: 1,
                                       className: "site-marker"}).addTo(map);
  }
  map.on("click", function (e) {
    lon.value = e.latlng.lng.toFixed(6);
    lat.value = e.latlng.lat.toFixed(6);
    place(e.latlng.lng, e.latlng.lat);
  });
  pick.addEventListener("change", function () {
    var opt = pick.options[pick.selectedIndex];
    if (opt && opt.dataset.sector) { sector.value = opt.dataset.sector; }
  });
  var lo0 = parseFloat(lon.value), la0 = parseFloat(lat.value);
  if (isFinite(lo0) && isFinite(la0)) { place(lo0, la0); }
}
