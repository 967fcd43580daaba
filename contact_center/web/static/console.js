// Operator console: receives pops over the websocket and shows them as cards.
// Card HTML is rendered (and escaped) by the server; text from messages is only ever set
// with textContent. A freshly loaded page connects without a last id and gets the pops of
// the calls still active (a snapshot); after that the page remembers the last stream id it
// showed, so a reconnect asks for exactly what it missed and never shows a pop twice.
"use strict";

const CLOSE_SIGNED_OUT = 4001;
const CLOSE_FORBIDDEN = 4003;
const CLOSE_BAD_REQUEST = 4000;

function idParts(id) {
  const [ms, seq] = String(id).split("-");
  return [Number(ms) || 0, Number(seq) || 0];
}

function idAfter(a, b) {
  const [am, as] = idParts(a);
  const [bm, bs] = idParts(b);
  return am > bm || (am === bm && as > bs);
}

const state = { lastId: "", socket: null, delay: 250 };

function cardKey(message) {
  return message.server + "/" + message.call_id;
}

function findCard(key) {
  for (const node of document.querySelectorAll("#pops > .pop")) {
    if (node.dataset.key === key) return node;
  }
  return null;
}

// --- the current call: the newest pop; the call-control forms act on it ---------------------

function setCurrent(message) {
  const panel = document.getElementById("call-control");
  panel.dataset.server = message.server;
  panel.dataset.callId = message.call_id;
  panel.dataset.stage = message.stage || "";
  document.getElementById("call-label").textContent =
    (message.caller && (message.caller.display || message.caller.number_raw || message.caller.number)) ||
    message.call_id;
  const base = "/api/calls/" + encodeURIComponent(message.server) + "/" +
    encodeURIComponent(message.call_id) + "/";
  for (const form of panel.querySelectorAll("form[data-call-action]")) {
    form.setAttribute("action", base + form.dataset.callAction);
  }
  if (panel.dataset.recordingFor !== cardKey(message)) showRecording("recording.resume", "");
  panel.dataset.recordingFor = cardKey(message);
  panel.hidden = false;
  // Click-to-call starts from the customer on the card.
  const number = message.caller ? message.caller.number || message.caller.number_raw : "";
  if (number) document.getElementById("call-number").value = number;
  document.getElementById("call-customer").value =
    message.customer_id === null || message.customer_id === undefined ? "" : String(message.customer_id);
}

// The last pop message of each card still shown, so the panel can fall back to another call.
const shown = new Map();

function endCurrent(message, keep) {
  if (!keep) shown.delete(cardKey(message));
  const panel = document.getElementById("call-control");
  if (panel.dataset.server !== message.server || panel.dataset.callId !== message.call_id) return;
  if (keep) {
    panel.dataset.stage = "ended";
    return;
  }
  const others = Array.from(shown.values());
  if (others.length) {
    setCurrent(others[others.length - 1]);
    return;
  }
  panel.hidden = true;
  panel.dataset.callId = "";
  for (const form of panel.querySelectorAll("form[data-call-action]")) form.removeAttribute("action");
}

// --- what the connector did with a command -------------------------------------------------

const RESULT_POLL_MS = 300;
const RESULT_POLLS = 40;

function showResult(status, text) {
  const node = document.getElementById("command-result");
  node.dataset.status = status;
  node.textContent = text;
}

async function followCommand(sent) {
  const label = sent.command.replace(/_/g, " ");
  showResult("sent", "Sent: " + label + "…");
  for (let n = 0; n < RESULT_POLLS; n++) {
    await new Promise((resolve) => setTimeout(resolve, RESULT_POLL_MS));
    let result;
    try {
      const response = await fetch(sent.result_url, { credentials: "same-origin" });
      if (!response.ok) continue;
      result = await response.json();
    } catch (error) {
      continue;
    }
    if (result.status === "done") {
      showResult("done", "Done: " + label + ".");
      return;
    }
    if (result.status === "failed") {
      showResult("failed", "Failed: " + label + ": " + result.reason);
      return;
    }
  }
  showResult("pending", "No answer yet about " + label + " (is the PBX connector running?)");
}

function showPop(message) {
  const pops = document.getElementById("pops");
  const key = cardKey(message);
  let holder = findCard(key);
  if (!holder) {
    holder = document.createElement("div");
    holder.className = "pop";
    holder.dataset.key = key;
    pops.prepend(holder);
  }
  holder.innerHTML = message.html;
  document.getElementById("no-pops").hidden = true;
  shown.delete(key); // re-insert: the newest pop is last
  shown.set(key, message);
  setCurrent(message);
}

function closePop(message) {
  const kept = message.reason === "ended" || message.reason === "transferred";
  endCurrent(message, kept);
  const holder = findCard(cardKey(message));
  if (!holder) return;
  if (kept) {
    // Keep it for the wrap-up; it goes when the wrap-up is saved.
    const card = holder.querySelector(".pop-card");
    if (card) card.classList.add("ended");
  } else {
    holder.remove();
  }
}

function handle(message) {
  if (!message.id) return; // pong and other control frames
  if (state.lastId && !idAfter(message.id, state.lastId)) return; // already shown
  state.lastId = message.id;
  if (message.type === "pop") showPop(message);
  else if (message.type === "pop.closed") closePop(message);
}

function setLink(status, text) {
  const link = document.getElementById("link");
  link.dataset.status = status;
  link.textContent = text;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = state.lastId ? "?last_id=" + encodeURIComponent(state.lastId) : "";
  const socket = new WebSocket(scheme + "//" + location.host + "/ws" + query);
  state.socket = socket;
  socket.addEventListener("open", () => {
    state.delay = 250;
    setLink("open", "live");
  });
  socket.addEventListener("message", (event) => {
    try {
      handle(JSON.parse(event.data));
    } catch (error) {
      console.error("bad message", error);
    }
  });
  socket.addEventListener("close", (event) => {
    setLink("closed", "disconnected");
    if (event.code === CLOSE_SIGNED_OUT || event.code === CLOSE_FORBIDDEN) {
      location.assign("/login");
      return;
    }
    if (event.code === CLOSE_BAD_REQUEST) {
      state.lastId = "";
    }
    setTimeout(connect, state.delay);
    state.delay = Math.min(state.delay * 2, 10000);
  });
}

document.addEventListener("cc:failed", (event) => {
  if (event.target.closest(".call-control, .click-to-call, #state")) {
    showResult("refused", "Refused: " + event.detail);
  }
});

// Recording pause / card payment: what the page shows after the action was published.
function showRecording(action, reason) {
  const paused = action === "recording.pause";
  document.getElementById("recording-control").dataset.recording = paused ? "paused" : "on";
  document.getElementById("recording-state").textContent =
    paused ? (reason === "card_payment" ? "Recording paused for card payment" : "Recording paused") : "Recording on";
  const paying = paused && reason === "card_payment";
  document.getElementById("card-payment-form").hidden = paying;
  document.getElementById("card-payment-done-form").hidden = !paying;
}

document.addEventListener("cc:saved", (event) => {
  const form = event.target;
  if (form.closest("#recording-control") && event.detail && event.detail.action) {
    showRecording(event.detail.action, event.detail.reason);
  }
  if (event.detail && event.detail.result_url) followCommand(event.detail);
  if (form.classList.contains("wrapup")) {
    const holder = form.closest(".pop");
    if (holder) {
      const card = holder.querySelector(".pop-card");
      if (card) endCurrent({ server: card.dataset.server, call_id: card.dataset.callId }, false);
      holder.remove();
    }
  }
  if (form.closest("#state")) refreshState();
});

// --- the operator's state: what the wallboard shows, never what was asked --------------------
// The connector decides it (console, supervisor, Asterisk's autopause, wrap-up) and the
// statistics publish it; the page polls it so a force pause or a wrap-up shows at once.

const STATE_POLL_MS = 1000;

function showState(data) {
  const box = document.getElementById("state");
  const words = String(data.state || "offline").replace(/_/g, " ");
  document.getElementById("state-label").textContent = words + (data.reason ? " (" + data.reason + ")" : "");
  box.dataset.state = data.state || "offline";
  box.dataset.until = String(data.until || 0);
  const endWrapup = document.getElementById("end-wrapup-form");
  endWrapup.hidden = data.state !== "wrapup";
  endWrapup.style.display = endWrapup.hidden ? "none" : ""; // .inline would show it anyway
  tickTimer();
}

function tickTimer() {
  const box = document.getElementById("state");
  const until = Number(box.dataset.until) || 0;
  const timer = document.getElementById("state-timer");
  if (box.dataset.state !== "wrapup" || !until) {
    timer.textContent = "";
    return;
  }
  const left = Math.max(0, Math.ceil(until - Date.now() / 1000));
  timer.textContent = left + " s left";
}

async function refreshState() {
  try {
    const response = await fetch("/api/operator/state", { credentials: "same-origin" });
    if (response.ok) showState(await response.json());
  } catch (error) {
    // the next poll tries again
  }
}

document.addEventListener("DOMContentLoaded", () => {
  connect();
  tickTimer();
  setInterval(refreshState, STATE_POLL_MS);
  setInterval(tickTimer, 250);
});
