// QA player: speed, seek on the waveform, a moving cursor, comments at the current time.
"use strict";

(function () {
  const audio = document.getElementById("audio");
  const wave = document.getElementById("waveform");
  const cursor = document.getElementById("cursor");
  const speed = document.getElementById("speed");
  const player = document.getElementById("qa-player");
  if (!audio) return;

  function duration() {
    const d = Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : 0;
    return d || Number(player ? player.dataset.duration : 0) || 0;
  }

  function seek(seconds) {
    audio.currentTime = Math.max(0, seconds);
  }

  if (speed) speed.addEventListener("change", () => { audio.playbackRate = Number(speed.value); });

  if (wave) {
    const width = wave.viewBox.baseVal.width;
    wave.addEventListener("click", (event) => {
      const box = wave.getBoundingClientRect();
      const share = (event.clientX - box.left) / box.width;
      seek(share * duration());
    });
    audio.addEventListener("timeupdate", () => {
      const d = duration();
      const x = d ? (audio.currentTime / d) * width : 0;
      cursor.setAttribute("x1", String(x));
      cursor.setAttribute("x2", String(x));
    });
  }

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLElement)) return;
    if (target.dataset.seek !== undefined) {
      event.preventDefault();
      seek(Number(target.dataset.seek));
      audio.play();
    } else if (target.classList.contains("now")) {
      const row = target.closest(".comment-row");
      row.querySelector("input[name=comment_at]").value = audio.currentTime.toFixed(1);
    } else if (target.classList.contains("add-comment")) {
      const rows = target.parentElement.querySelectorAll(".comment-row");
      const copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelector("input[name=comment_text]").value = "";
      copy.querySelector("input[name=comment_at]").value = audio.currentTime.toFixed(1);
      target.before(copy);
    }
  });
})();
