// The wallboard's callbacks line: waiting and overdue callbacks, refreshed every 15 s.
"use strict";

(function () {
  const waiting = document.getElementById("wb-callbacks-waiting");
  const overdue = document.getElementById("wb-callbacks-overdue");
  if (!waiting || !overdue) return;

  async function refresh() {
    try {
      const response = await fetch("/api/callbacks/summary", { credentials: "same-origin" });
      if (!response.ok) return;
      const counts = await response.json();
      waiting.textContent = String(counts.waiting + counts.dialing);
      overdue.textContent = String(counts.overdue);
      overdue.closest("a").dataset.overdue = counts.overdue > 0 ? "yes" : "no";
    } catch (error) {
      // the next refresh tries again
    }
  }

  refresh();
  setInterval(refresh, 15000);
})();
