// Supervisor wallboard: renders the stats snapshots pushed on /wallboard/ws.
// Everything is built with DOM calls and textContent: no HTML from data is ever parsed.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("wallboard-data").textContent);
  const filter = document.getElementById("queue-filter");
  const queuesBox = document.getElementById("wb-queues");
  const operatorsBody = document.getElementById("wb-operators");
  const statusEl = document.getElementById("wb-status");
  const flash = document.getElementById("flash");
  const dialog = document.getElementById("pause-dialog");
  const pauseForm = document.getElementById("pause-form");
  const SVG = "http://www.w3.org/2000/svg";
  let snapshot = data.snapshot;
  let clockOffset = 0; // server time − browser time, from the snapshot's "at"
  let selected = data.queue || "";

  const STATES = {
    available: ccT("Available"),
    ringing: ccT("Ringing"),
    on_call: ccT("On call"),
    wrapup: ccT("Wrap-up"),
    paused: ccT("Paused"),
    offline: ccT("Offline"),
  };
  const ACTIONS = {
    listen: ccT("Listen"),
    whisper: ccT("Whisper"),
    barge: ccT("Barge"),
    pause: ccT("Pause…"),
    unpause: ccT("Unpause"),
  };

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  }

  function pct(v) { return v === null || v === undefined ? "—" : `${Math.round(v)}%`; }

  function thresholdsOf(queue) {
    return (data.queue_thresholds || {})[queue] || data.thresholds;
  }

  // Higher is worse for waits and abandons, lower is worse for service level.
  function level(metric, q, t) {
    if (metric === "service_level" && q.service_level_pct !== null) {
      if (q.service_level_pct < t.sl_red_below) return "alert";
      if (q.service_level_pct < t.sl_amber_below) return "warn";
      return "ok";
    }
    if (metric === "longest_wait") {
      if (q.longest_wait_seconds >= t.wait_red_seconds) return "alert";
      if (q.longest_wait_seconds >= t.wait_amber_seconds) return "warn";
      return "ok";
    }
    if (metric === "abandon_rate" && q.abandon_rate_pct !== null) {
      if (q.abandon_rate_pct >= t.abandon_red_pct) return "alert";
      if (q.abandon_rate_pct >= t.abandon_amber_pct) return "warn";
      return "ok";
    }
    return "";
  }

  const LEVEL_WORDS = { ok: ccT("within target"), warn: ccT("amber"), alert: ccT("red") };

  function tile(metric, label, value, q, t) {
    const lvl = level(metric, q, t);
    const box = el("div", { class: `tile ${lvl}`.trim(), "data-metric": metric });
    box.append(el("div", { class: "label" }, label), el("div", { class: "value" }, String(value)));
    if (lvl) box.setAttribute("title", `${label}: ${LEVEL_WORDS[lvl]}`);
    return box;
  }

  // The longest wait grows between snapshots: keep counting in the browser.
  function liveWait(t, q) {
    t.dataset.base = String(q.longest_wait_seconds);
    t.dataset.waiting = String(q.waiting);
    t.dataset.at = String(snapshot.at || 0);
    return t;
  }

  function hourLabel(i) {
    const h = (Number(data.day_start_hour || 0) + i) % 24;
    return `${String(h).padStart(2, "0")}:00`;
  }

  // A bar chart of the day by hour (a bar for each hour with calls), with axes, labels, a tooltip per bar and the same
  // figures as a table (for screen readers and for reading exact values).
  const W = 360, H = 170, LEFT = 40, RIGHT = 8, TOP = 10, BOTTOM = 34;

  // The axis' top: a round number whose half is whole too (4, 6, 8, 10, 20, 40, 50…).
  function niceTop(max) {
    if (max <= 4) return 4;
    if (max <= 10) return 2 * Math.ceil(max / 2);
    const step = Math.pow(10, Math.floor(Math.log10(max)));
    for (const m of [1, 2, 4, 5, 10]) if (m * step >= max) return m * step;
    return 10 * step;
  }

  function chart(spec, hourly) {
    const values = hourly.map(spec.value);
    const known = values.filter((v) => v !== null);
    const top = spec.max || niceTop(Math.max(1, ...known));
    const fig = el("figure", { "data-chart": spec.cls });
    fig.append(el("figcaption", {}, spec.title));
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "group", "aria-label": spec.title,
      class: "chart" });
    const y = (v) => TOP + plotH - (v / top) * plotH;
    // y axis: 0, half and top, with grid lines
    for (const v of [0, top / 2, top]) {
      root.append(svg("line", { class: "grid", x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }));
      root.append(svg("text", { class: "tick y-tick", x: LEFT - 4, y: y(v) + 4,
        "text-anchor": "end" }, spec.format(v)));
    }
    root.append(svg("line", { class: "axis", x1: LEFT, x2: LEFT, y1: TOP, y2: TOP + plotH }));
    root.append(svg("line", { class: "axis x-axis", x1: LEFT, x2: W - RIGHT, y1: TOP + plotH,
      y2: TOP + plotH }));
    if (spec.unit !== "%") {  // a percentage says so on every tick
      root.append(svg("text", { class: "axis-title", x: 10, y: TOP + plotH / 2,
        transform: `rotate(-90 10 ${TOP + plotH / 2})`, "text-anchor": "middle" }, spec.unit));
    }
    const slot = plotW / 24;
    for (let i = 0; i < 24; i += 3) {
      root.append(svg("text", { class: "tick x-tick", x: LEFT + i * slot + slot / 2,
        y: TOP + plotH + 14, "text-anchor": "middle" }, hourLabel(i)));
    }
    root.append(svg("text", { class: "axis-title", x: LEFT + plotW / 2, y: H - 3,
      "text-anchor": "middle" }, ccT("Hour of the day")));
    values.forEach((v, i) => {
      if (v === null) return;
      const h = Math.max(1, (v / top) * plotH); // an hour at 0 % still shows (and tells)
      const tip = `${hourLabel(i)}–${hourLabel(i + 1)}: ${spec.format(v)} ${spec.tipUnit}`;
      const bar = svg("rect", { class: `bar ${spec.cls}`, x: LEFT + i * slot + 1, y: TOP + plotH - h,
        width: Math.max(1, slot - 2), height: h, tabindex: "0", "data-tip": tip,
        "aria-label": tip });
      bar.append(svg("title", {}, tip));
      root.append(bar);
    });
    fig.append(root);
    // the same figures as a table
    const details = el("details", { class: "chart-table" });
    details.append(el("summary", {}, ccT("Show as a table")));
    const table = el("table", { class: "data" });
    const head = el("tr");
    head.append(el("th", { scope: "col" }, ccT("Hour")), el("th", { scope: "col" }, spec.unit));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    values.forEach((v, i) => {
      if (v === null) return;
      const row = el("tr");
      row.append(el("td", {}, `${hourLabel(i)}–${hourLabel(i + 1)}`), el("td", {}, spec.format(v)));
      body.append(row);
    });
    table.append(body);
    details.append(table);
    fig.append(details);
    return fig;
  }

  // One tooltip for every bar: follows the pointer or the keyboard focus.
  const tooltip = el("div", { class: "chart-tip", role: "tooltip", id: "chart-tip", hidden: "" });
  document.body.append(tooltip);
  function showTip(bar) {
    tooltip.textContent = bar.getAttribute("data-tip");
    const box = bar.getBoundingClientRect();
    tooltip.hidden = false;
    tooltip.style.left = `${window.scrollX + box.left + box.width / 2}px`;
    tooltip.style.top = `${window.scrollY + box.top - 6}px`;
  }
  function hideTip() { tooltip.hidden = true; }
  for (const type of ["mouseover", "focusin"]) {
    queuesBox.addEventListener(type, (event) => {
      const bar = event.target.closest ? event.target.closest("rect.bar") : null;
      if (bar) showTip(bar);
    });
  }
  for (const type of ["mouseout", "focusout"]) {
    queuesBox.addEventListener(type, (event) => {
      if (event.target.closest && event.target.closest("rect.bar")) hideTip();
    });
  }

  function outcomesOf(b) { return b.answered + b.abandoned - b.short_abandoned + b.left; }
  function slOf(b) { const o = outcomesOf(b); return o > 0 ? (100 * b.answered_in_sl) / o : null; }
  function abandonOf(b) {
    const o = outcomesOf(b);
    return o > 0 ? (100 * (b.abandoned - b.short_abandoned)) / o : null;
  }
  const whole = (v) => String(Math.round(v));
  const percent = (v) => `${Math.round(v)}%`;

  function renderQueue(name, q) {
    const t = thresholdsOf(name);
    const box = el("section", { class: "wb-queue", "data-queue": name });
    // the queue's own colours (CSSOM: allowed under the page's CSP)
    box.style.setProperty("--wb-ok", t.ok_colour);
    box.style.setProperty("--wb-warn", t.amber_colour);
    box.style.setProperty("--wb-alert", t.red_colour);
    box.append(el("h2", {}, ccT("%(queue)s — service level within %(seconds)s s",
      { queue: name, seconds: q.service_level_seconds })));
    const tiles = el("div", { class: "wb-tiles" });
    const ops = q.operators;
    tiles.append(
      tile("waiting", ccT("Waiting"), q.waiting, q, t),
      liveWait(tile("longest_wait", ccT("Longest wait"), duration(q.longest_wait_seconds), q, t), q),
      tile("service_level", ccT("Service level"), pct(q.service_level_pct), q, t),
      tile("offered", ccT("Offered"), q.offered, q, t),
      tile("answered", ccT("Answered"), q.answered, q, t),
      tile("abandoned", ccT("Abandoned"), q.abandoned, q, t),
      tile("abandon_rate", ccT("Abandon rate"), pct(q.abandon_rate_pct), q, t),
      tile("asa", ccT("ASA"), duration(q.asa_seconds), q, t),
      tile("aht", ccT("AHT"), duration(q.aht_seconds), q, t),
      tile("available", ccT("Available"), ops.available, q, t),
      tile("on_call", ccT("On call"), ops.on_call + ops.ringing, q, t),
      tile("wrapup", ccT("Wrap-up"), ops.wrapup, q, t),
      tile("paused", ccT("Paused"), ops.paused, q, t),
    );
    box.append(tiles);
    const charts = el("div", { class: "wb-charts" });
    charts.append(
      chart({ title: ccT("Calls offered per hour"), cls: "offered", unit: ccT("Calls"),
        tipUnit: ccT("calls offered"), value: (b) => b.offered || null, format: whole }, q.hourly),
      chart({ title: ccT("Service level per hour"), cls: "sl", unit: "%", max: 100,
        tipUnit: ccT("answered in time"), value: slOf, format: percent }, q.hourly),
      chart({ title: ccT("Abandon rate per hour"), cls: "abandoned", unit: "%", max: 100,
        tipUnit: ccT("abandoned"), value: abandonOf, format: percent }, q.hourly),
    );
    box.append(charts);
    return box;
  }

  async function sendAction(action, iface, name, reason) {
    const form = new FormData();
    form.append("action", action);
    form.append("interface", iface);
    if (reason) form.append("reason", reason);
    try {
      await ccFetch("/wallboard/action", form);
      flash.textContent = reason
        ? ccT("%(action)s sent for %(who)s (%(reason)s).",
          { action: ACTIONS[action].replace("…", ""), who: name, reason: data.reasons[reason] || reason })
        : ccT("%(action)s sent for %(who)s.", { action: ACTIONS[action], who: name });
    } catch (error) {
      flash.textContent = ccT("%(action)s failed: %(reason)s",
        { action: ACTIONS[action].replace("…", ""), reason: error.message });
    }
  }

  function actionButton(action, iface, name) {
    const b = el("button", { type: "button", "data-action": action, "data-interface": iface,
      "aria-label": `${ACTIONS[action].replace("…", "")} ${name}` }, ACTIONS[action]);
    b.addEventListener("click", () => {
      if (action !== "pause") {
        sendAction(action, iface, name, "");
        return;
      }
      // a forced pause says why: ask, as the operator's own pause does
      pauseForm.reset();
      pauseForm.dataset.interface = iface;
      pauseForm.dataset.name = name;
      document.getElementById("pause-who").textContent = name;
      dialog.showModal();
    });
    return b;
  }

  pauseForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = pauseForm.querySelector('input[name="reason"]:checked');
    if (!chosen) return;
    dialog.close();
    sendAction("pause", pauseForm.dataset.interface, pauseForm.dataset.name, chosen.value);
  });
  document.getElementById("pause-cancel").addEventListener("click", () => dialog.close());

  function stateText(op) {
    const state = STATES[op.state] || op.state.replace("_", " ");
    if (!op.reason) return state;
    return `${state} (${(data.reasons || {})[op.reason] || op.reason})`;
  }

  function renderOperators() {
    const rows = [];
    const now = Date.now() / 1000 + clockOffset;
    for (const [iface, op] of Object.entries(snapshot.operators || {})) {
      if (selected && !op.queues.includes(selected)) continue;
      const tr = el("tr", { "data-interface": iface });
      const login = (data.logins || {})[iface];
      const name = (data.names || {})[iface] || op.name;
      const who = el("td", { class: "op-name" });
      if (login) {
        who.append(el("a", { href: `/wallboard/operators/${encodeURIComponent(login)}` }, name));
      } else {
        who.textContent = name;
      }
      const state = el("td", { class: "op-state", "data-state": op.state }, stateText(op));
      const actions = el("td", { class: "actions" });
      for (const a of ["listen", "whisper", "barge"]) {
        if (op.state === "on_call") actions.append(actionButton(a, iface, name));
      }
      if (op.state !== "offline") {
        actions.append(actionButton(op.state === "paused" ? "unpause" : "pause", iface, name));
      }
      tr.append(
        who,
        state,
        el("td", { class: "op-since", "data-since": String(op.since),
          "data-until": op.state === "wrapup" ? String(op.until || 0) : "0" },
          op.state === "wrapup" && op.until ? ccT("%(time)s left", { time: duration(op.until - now) })
            : duration(now - op.since)),
        el("td", {}, op.queues.join(", ")),
        el("td", { "data-metric": "calls" }, String(op.calls)),
        el("td", {}, duration(op.talk_seconds)),
        el("td", {}, duration(op.wrapup_seconds)),
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
    hideTip();
    queuesBox.replaceChildren(...boxes);
    renderOperators();
    document.getElementById("wb-day").textContent = snapshot.day
      ? ccT("Day %(day)s", { day: snapshot.day }) : "";
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
      cell.textContent = until ? ccT("%(time)s left", { time: duration(until - now) })
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
      statusEl.textContent = ccT("live");
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
      statusEl.textContent = ccT("reconnecting…");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  render();
  connect();
  setInterval(tickTimes, 1000);
})();
