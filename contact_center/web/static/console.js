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
}

function closePop(message) {
  const holder = findCard(cardKey(message));
  if (!holder) return;
  if (message.reason === "ended" || message.reason === "transferred") {
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

document.addEventListener("cc:saved", (event) => {
  const form = event.target;
  if (form.classList.contains("wrapup")) {
    const holder = form.closest(".pop");
    if (holder) holder.remove();
  }
  if (form.closest("#state") && event.detail && event.detail.state) {
    const label = document.getElementById("state-label");
    label.textContent = event.detail.state + (event.detail.reason ? " (" + event.detail.reason + ")" : "");
    document.getElementById("state").dataset.state = event.detail.state;
  }
});

document.addEventListener("DOMContentLoaded", connect);
