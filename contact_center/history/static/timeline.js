// The customer page's recordings: click the waveform to seek, a cursor follows the audio.
"use strict";

(function () {
  for (const player of document.querySelectorAll(".rec-player")) {
    const audio = player.querySelector("audio");
    const wave = player.querySelector("svg.waveform");
    const cursor = player.querySelector(".cursor");
    if (!audio || !wave || !cursor) continue;
    const width = wave.viewBox.baseVal.width;
    const duration = () =>
      Number.isFinite(audio.duration) && audio.duration > 0
        ? audio.duration : Number(player.dataset.duration) || 0;
    wave.addEventListener("click", (event) => {
      const box = wave.getBoundingClientRect();
      audio.currentTime = Math.max(0, ((event.clientX - box.left) / box.width) * duration());
      audio.play();
    });
    audio.addEventListener("timeupdate", () => {
      const d = duration();
      const x = d ? (audio.currentTime / d) * width : 0;
      cursor.setAttribute("x1", String(x));
      cursor.setAttribute("x2", String(x));
    });
  }
})();
