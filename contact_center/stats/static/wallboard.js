// Supervisor wallboard: renders the stats snapshots pushed on /wallboard/ws.
// Everything is built with DOM calls and textContent: no HTML from data is ever parsed.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("wallboard-data").textContent);
  const thresholds = data.thresholds;
  const filter = document.getElementById("queue-filter");
  const queuesBox = document.getElementById("wb-queues");
  const operatorsBody = document.getElementById("wb-operators");
  const statusEl = document.getElementById("wb-status");
  const flash = document.getElementById("flash");
  const SVG = "http://www.w3.org/2000/svg";
  let snapshot = data.snapshot;
  let clockOffset = 0; // server time − browser time, from the snapshot's "at"
  let selected = data.queue || "";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    const m = Math.floor(s / 60);
    return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}` :
      `${m}:${String(s % 60).padStart(2, "0")}`;
  }

  function pct(v) { return v === null || v === undefined ? "—" : `${v}%`; }

  // Higher is worse for waits and abandons, lower is worse for service level.
  function level(metric, q) {
    if (metric === "service_level" && q.service_level_pct !== null) {
      if (q.service_level_pct < thresholds.sl_red_below) return "alert";
      if (q.service_level_pct < thresholds.sl_amber_below) return "warn";
      return "ok";
    }
    if (metric === "longest_wait") {
      if (q.longest_wait_seconds >= thresholds.wait_red_seconds) return "alert";
      if (q.longest_wait_seconds >= thresholds.wait_amber_seconds) return "warn";
      return "ok";
    }
    if (metric === "abandon_rate" && q.abandon_rate_pct !== null) {
      if (q.abandon_rate_pct >= thresholds.abandon_red_pct) return "alert";
      if (q.abandon_rate_pct >= thresholds.abandon_amber_pct) return "warn";
      return "ok";
    }
    return "";
  }

  function tile(metric, label, value, q) {
    const t = el("div", { class: `tile ${level(metric, q)}`.trim(), "data-metric": metric });
    t.append(el("div", { class: "label" }, label), el("div", { class: "value" }, String(value)));
    return t;
  }

  // The longest wait grows between snapshots: keep counting in the browser.
  function liveWait(t, q) {
    t.dataset.base = String(q.longest_wait_seconds);
    t.dataset.waiting = String(q.waiting);
    t.dataset.at = String(snapshot.at || 0);
    return t;
  }

  function chart(title, hourly, value, cls, max) {
    const fig = el("figure", { "data-chart": cls });
    fig.append(el("figcaption", {}, title));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 240 60");
    svg.setAttribute("preserveAspectRatio", "none");
    const top = max || Math.max(1, ...hourly.map(value).filter((v) => v !== null));
    hourly.forEach((bucket, i) => {
      const v = value(bucket);
      if (v === null || v <= 0) return;
      const h = Math.max(1, (v / top) * 58);
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("class", `bar ${cls}`);
      rect.setAttribute("x", String(i * 10 + 1));
      rect.setAttribute("y", String(60 - h));
      rect.setAttribute("width", "8");
      rect.setAttribute("height", String(h));
      const tip = document.createElementNS(SVG, "title");
      tip.textContent = `${i}h: ${Math.round(v * 10) / 10}`;
      rect.append(tip);
      svg.append(rect);
    });
    fig.append(svg);
    return fig;
  }

  function slOf(b) {
    const outcomes = b.answered + b.abandoned - b.short_abandoned + b.left;
    return outcomes > 0 ? (100 * b.answered_in_sl) / outcomes : null;
  }

  function abandonOf(b) {
    const outcomes = b.answered + b.abandoned - b.short_abandoned + b.left;
    return outcomes > 0 ? (100 * (b.abandoned - b.short_abandoned)) / outcomes : null;
  }

  function renderQueue(name, q) {
    const box = el("section", { class: "wb-queue", "data-queue": name });
    box.append(el("h2", {}, `${name} — SL ${q.service_level_seconds} s`));
    const tiles = el("div", { class: "wb-tiles" });
    const ops = q.operators;
    tiles.append(
      tile("waiting", "Waiting", q.waiting, q),
      liveWait(tile("longest_wait", "Longest wait", duration(q.longest_wait_seconds), q), q),
      tile("service_level", "Service level", pct(q.service_level_pct), q),
      tile("offered", "Offered", q.offered, q),
      tile("answered", "Answered", q.answered, q),
      tile("abandoned", "Abandoned", q.abandoned, q),
      tile("abandon_rate", "Abandon rate", pct(q.abandon_rate_pct), q),
      tile("asa", "ASA", duration(q.asa_seconds), q),
      tile("aht", "AHT", duration(q.aht_seconds), q),
      tile("available", "Available", ops.available, q),
      tile("on_call", "On call", ops.on_call + ops.ringing, q),
      tile("wrapup", "Wrap-up", ops.wrapup, q),
      tile("paused", "Paused", ops.paused, q),
    );
    box.append(tiles);
    const charts = el("div", { class: "wb-charts" });
    charts.append(
      chart("Calls offered per hour", q.hourly, (b) => b.offered, "offered"),
      chart("Service level % per hour", q.hourly, slOf, "sl", 100),
      chart("Abandon rate % per hour", q.hourly, abandonOf, "abandoned", 100),
    );
    box.append(charts);
    return box;
  }

  function actionButton(action, iface) {
    const b = el("button", { type: "button", "data-action": action, "data-interface": iface },
      action);
    b.addEventListener("click", async () => {
      const form = new FormData();
      form.append("action", action);
      form.append("interface", iface);
      if (action === "pause") form.append("reason", document.getElementById("pause-reason").value);
      try {
        await ccFetch("/wallboard/action", form);
        flash.textContent = `${action} sent for ${iface}.`;
      } catch (error) {
        flash.textContent = `${action} failed: ${error.message}`;
      }
    });
    return b;
  }

  function renderOperators() {
    const rows = [];
    const now = Date.now() / 1000 + clockOffset;
    for (const [iface, op] of Object.entries(snapshot.operators || {})) {
      if (selected && !op.queues.includes(selected)) continue;
      const tr = el("tr", { "data-interface": iface });
      const state = el("td", { class: "op-state", "data-state": op.state },
        op.state.replace("_", " ") + (op.reason ? ` (${op.reason})` : ""));
      const actions = el("td", { class: "actions" });
      for (const a of ["listen", "whisper", "barge"]) {
        if (op.state === "on_call") actions.append(actionButton(a, iface));
      }
      if (op.state !== "offline") actions.append(actionButton(op.state === "paused" ? "unpause" : "pause", iface));
      tr.append(
        el("td", {}, op.name),
        state,
        el("td", { class: "op-since", "data-since": String(op.since),
          "data-until": op.state === "wrapup" ? String(op.until || 0) : "0" },
          op.state === "wrapup" && op.until ? `${duration(op.until - now)} left` : duration(now - op.since)),
        el("td", {}, op.queues.join(", ")),
        el("td", { "data-metric": "calls" }, String(op.calls)),
        el("td", {}, duration(op.talk_seconds)),
        el("td", {}, duration(op.pause_seconds)),
        actions,
      );
      rows.push(tr);
    }
    operatorsBody.replaceChildren(...rows);
  }

  function renderFilter(names) {
    const have = Array.from(filter.options).map((o) => o.value);
    for (const name of names) {
      if (!have.includes(name)) filter.append(el("option", { value: name }, name));
    }
    filter.value = selected;
  }

  function render() {
    const names = Object.keys(snapshot.queues || {}).sort();
    renderFilter(names);
    const boxes = names.filter((n) => !selected || n === selected)
      .map((n) => renderQueue(n, snapshot.queues[n]));
    queuesBox.replaceChildren(...boxes);
    renderOperators();
    document.getElementById("wb-day").textContent = snapshot.day ? `Day ${snapshot.day}` : "";
  }

  function tickTimes() {
    const now = Date.now() / 1000 + clockOffset;
    for (const t of document.querySelectorAll('.tile[data-metric="longest_wait"]')) {
      if (t.dataset.waiting === "0" || !Number(t.dataset.at)) continue;
      const grown = Number(t.dataset.base) + (now - Number(t.dataset.at));
      t.querySelector(".value").textContent = duration(grown);
    }
    for (const cell of document.querySelectorAll(".op-since")) {
      const until = Number(cell.getAttribute("data-until")) || 0;
      // a wrap-up shows what is left of it; other states how long they have lasted
      cell.textContent = until ? `${duration(until - now)} left`
        : duration(now - Number(cell.getAttribute("data-since")));
    }
  }

  filter.addEventListener("change", () => {
    selected = filter.value;
    const url = new URL(window.location.href);
    if (selected) url.searchParams.set("queue", selected); else url.searchParams.delete("queue");
    window.history.replaceState(null, "", url);
    render();
  });

  document.getElementById("fullscreen").addEventListener("click", () => {
    document.getElementById("wallboard").requestFullscreen?.();
  });

  let backoff = 500;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${window.location.host}/wallboard/ws`);
    ws.addEventListener("open", () => {
      backoff = 500;
      statusEl.dataset.status = "open";
      statusEl.textContent = "live";
    });
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type !== "snapshot") return;
      snapshot = message.snapshot;
      if (snapshot.at) clockOffset = snapshot.at - Date.now() / 1000;
      render();
    });
    ws.addEventListener("close", () => {
      statusEl.dataset.status = "closed";
      statusEl.textContent = "reconnecting…";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  render();
  connect();
  setInterval(tickTimes, 1000);
})();
