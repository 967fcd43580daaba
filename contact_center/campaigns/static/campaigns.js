// Live campaign figures: refreshed every 5 s from the JSON API (the page works without it).
(function () {
  "use strict";
  function pct(x) { return (x * 100).toFixed(x < 0.1 ? 1 : 0) + " %"; }
  function fill(root, f) {
    var values = {
      dialled: String(f.dialled),
      answered: String(f.answered),
      machine: String(f.machine),
      abandon_rate: pct(f.abandon_rate),
      occupancy: f.occupancy === null || f.occupancy === undefined ? "—" : pct(f.occupancy),
      penetration: pct(f.penetration)
    };
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var key = el.getAttribute("data-figure");
      if (key === "abandon_rate" && el.tagName === "TD") {
        el.textContent = pct(f.abandon_rate) + " / " + pct(f.abandon_cap);
      } else if (key in values) {
        el.textContent = values[key];
      }
    });
    var box = document.getElementById("abandon");
    if (box) { box.classList.toggle("alarm", f.abandon_rate > f.abandon_cap); }
  }
  function refresh() {
    var one = document.getElementById("figures");
    var all = document.getElementById("campaigns");
    var root = one || all;
    if (!root) { return; }
    fetch(root.getAttribute("data-live"), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (one) { fill(one, data.figures); return; }
        data.items.forEach(function (c) {
          var row = all.querySelector('tr[data-campaign="' + c.id + '"]');
          if (row) { fill(row, c.figures); }
        });
      })
      .catch(function () { /* the next round tries again */ });
  }
  setInterval(refresh, 5000);
})();
