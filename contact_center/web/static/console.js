// Operator console: receives pops over the websocket and shows them as cards; the current
// call with its timer, the wrap-up kept on the server until saved, the dial pad, customer
// search, my callbacks, my calls today, call alerts and keyboard shortcuts ("?" lists them).
// Card HTML is rendered (and escaped) by the server; text from messages is only ever set
// with textContent. A freshly loaded page connects without a last id and gets the pops of
// the calls still active (a snapshot); after that the page remembers the last stream id it
// showed, so a reconnect asks for exactly what it missed and never shows a pop twice.
"use strict";

const CLOSE_SIGNED_OUT = 4001;
const CLOSE_FORBIDDEN = 4003;
const CLOSE_BAD_REQUEST = 4000;
const MESSAGE_MS = 6000; // a status message fades after this

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
const $ = (id) => document.getElementById(id);

function mmss(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? h + ":" + String(m).padStart(2, "0") + ":" + s : m + ":" + s;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

// A message that goes away by itself (nothing stale stays on screen).
const fadeTimers = new WeakMap();
function say(node, text, status) {
  if (!node) return;
  node.textContent = text;
  if (status !== undefined) node.dataset.status = status;
  clearTimeout(fadeTimers.get(node));
  fadeTimers.set(
    node,
    setTimeout(() => {
      node.textContent = "";
      if (status !== undefined) node.dataset.status = "";
    }, MESSAGE_MS),
  );
}

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

const STAGE_WORDS = () => ({
  offered: ccT("Ringing"),
  answered: ccT("Talking"),
  identified: ccT("Talking"),
  ended: ccT("Wrap-up"),
  left: ccT("Wrap-up"),
  conference: ccT("In conference"),
  held: ccT("On hold"),
});

function setStage(stage) {
  const panel = $("call-control");
  if (panel.dataset.stage !== stage) panel.dataset.stageSince = String(Date.now());
  panel.dataset.stage = stage;
  $("call-stage").textContent = STAGE_WORDS()[stage] || "";
  // Live controls only on a live call of yours; the recording only once answered.
  const live = ["offered", "answered", "identified", "held"].includes(stage);
  const talking = ["answered", "identified", "held"].includes(stage);
  const inRoom = stage === "conference";
  const forms = ["transfer-form", "conference-form", "invite-form", "leave-conference-form", "hangup-form"];
  for (const id of forms) {
    const form = $(id);
    // in the room: invite someone more (never "conference" again: it would move both again)
    const roomControl = ["invite-form", "leave-conference-form", "hangup-form"].includes(id);
    // while it rings the phone answers or declines: nothing here acts on the call yet
    // (and outside one: nothing to leave, nobody to invite into it)
    const roomOnly = id === "invite-form" || id === "leave-conference-form";
    form.hidden = inRoom ? !roomControl : roomOnly || !live || stage === "offered";
    form.style.display = form.hidden ? "none" : "";
  }
  const recording = $("recording-control");
  recording.hidden = !talking;
  recording.style.display = recording.hidden ? "none" : "";
  tickCall();
}

function setCurrent(message) {
  const panel = $("call-control");
  const sameCall = panel.dataset.server === message.server && panel.dataset.callId === message.call_id;
  panel.dataset.server = message.server;
  panel.dataset.callId = message.call_id;
  $("call-label").textContent =
    (message.caller && (message.caller.display || message.caller.number_raw || message.caller.number)) || message.call_id;
  const base = "/api/calls/" + encodeURIComponent(message.server) + "/" +
    encodeURIComponent(message.call_id) + "/";
  for (const form of panel.querySelectorAll("form[data-call-action]")) {
    form.setAttribute("action", base + form.dataset.callAction);
  }
  if (panel.dataset.recordingFor !== cardKey(message)) showRecording("recording.resume", "");
  panel.dataset.recordingFor = cardKey(message);
  if (!sameCall) {
    panel.dataset.stage = "";
    hideConsultation();
  }
  const left = sameCall && panel.dataset.stage === "left";
  const inRoom = !left && rooms.has(cardKey(message)) && TALKING.includes(message.stage);
  setStage(left ? "left" : inRoom ? "conference" : message.stage || "");
  showRoom();
  panel.hidden = false;
  // Click-to-call starts from the customer on the card.
  const number = message.caller ? message.caller.number || message.caller.number_raw : "";
  if (number) $("call-number").value = number;
  $("call-customer").value =
    message.customer_id === null || message.customer_id === undefined ? "" : String(message.customer_id);
}

// The last pop message of each card still shown, so the panel can fall back to another call.
const shown = new Map();

// --- the conference room: who is in it now (the connector names every join and leave) -------

const TALKING = ["answered", "identified", "held"];
const rooms = new Map(); // card key -> the people in that call's room, as the last message said

const ROLE_WORDS = () => ({
  operator: ccT("Operator"),
  customer: ccT("Customer"),
});

function showRoom() {
  const panel = $("call-control");
  const people = rooms.get(panel.dataset.server + "/" + panel.dataset.callId) || [];
  const list = $("conference-people");
  list.replaceChildren(
    ...people.map((who) => {
      const item = el("li", { dataset: { role: who.role || "" } }, who.name || who.number || ccT("Someone"));
      const role = ROLE_WORDS()[who.role];
      if (role) item.append(" ", el("span", { class: "participant-role" }, "(" + role + ")"));
      return item;
    }),
  );
  const room = $("conference-room");
  room.hidden = people.length === 0;
  room.style.display = room.hidden ? "none" : "";
}

function showParticipants(message) {
  const key = cardKey(message); // kept even before its card shows: the pop may come next
  const people = Array.isArray(message.participants) ? message.participants : [];
  if (people.length) rooms.set(key, people);
  else rooms.delete(key);
  const panel = $("call-control");
  if (panel.dataset.server + "/" + panel.dataset.callId !== key) return;
  showRoom();
  const stage = panel.dataset.stage;
  if (people.length && TALKING.includes(stage)) setStage("conference");
  else if (!people.length && stage === "conference") setStage("answered");
}

function endCurrent(message, keep) {
  rooms.delete(cardKey(message)); // this operator's part is over: she is in no room of it
  if (!keep) shown.delete(cardKey(message));
  const panel = $("call-control");
  if (panel.dataset.server !== message.server || panel.dataset.callId !== message.call_id) return;
  showRoom();
  if (keep) {
    setStage("ended");
    return;
  }
  const others = Array.from(shown.values());
  if (others.length) {
    setCurrent(others[others.length - 1]);
    return;
  }
  panel.hidden = true;
  panel.dataset.callId = "";
  panel.dataset.stage = "";
  for (const form of panel.querySelectorAll("form[data-call-action]")) form.removeAttribute("action");
}

function tickCall() {
  const panel = $("call-control");
  const since = Number(panel.dataset.stageSince) || Date.now();
  $("call-timer").textContent = panel.hidden || !panel.dataset.stage ? "" : mmss((Date.now() - since) / 1000);
  for (const card of document.querySelectorAll(".pop-card[data-ended-at]")) {
    const timer = card.querySelector(".wrapup-timer");
    if (timer) timer.textContent = mmss((Date.now() - Number(card.dataset.endedAt)) / 1000);
  }
  for (const item of document.querySelectorAll("#pending-list [data-started]")) {
    const timer = item.querySelector(".wrapup-timer");
    if (timer) timer.textContent = mmss(Date.now() / 1000 - Number(item.dataset.started));
  }
}

// --- what the connector did with a command -------------------------------------------------

const RESULT_POLL_MS = 300;
const RESULT_POLLS = 40;

function showResult(status, text) {
  say($("command-result"), text, status);
}

const COMMAND_WORDS = () => ({
  available: ccT("available"),
  pause: ccT("pause"),
  offline: ccT("offline"),
  end_wrapup: ccT("end wrap-up"),
  blind_transfer: ccT("blind transfer"),
  attended_transfer: ccT("attended transfer"),
  conference: ccT("conference"),
  hangup: ccT("hangup"),
  leave_conference: ccT("leave conference"),
  conference_invite: ccT("invite to the room"),
  click_to_call: ccT("click to call"),
  transfer_complete: ccT("complete transfer"),
  transfer_cancel: ccT("cancel transfer"),
  transfer_swap: ccT("swap"),
});

async function followCommand(sent) {
  const label = COMMAND_WORDS()[sent.command] || sent.command.replace(/_/g, " ");
  showResult("sent", ccT("Sent: %(what)s…", { what: label }));
  let cursor = "";
  for (let n = 0; n < RESULT_POLLS; n++) {
    await new Promise((resolve) => setTimeout(resolve, RESULT_POLL_MS));
    let result;
    try {
      const url = sent.result_url + (cursor ? "&after=" + encodeURIComponent(cursor) : "");
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) continue;
      result = await response.json();
    } catch (error) {
      continue;
    }
    if (result.status === "done") {
      showResult("done", ccT("Done: %(what)s.", { what: label }));
      commandDone(sent.command);
      return;
    }
    if (result.status === "failed") {
      showResult("failed", ccT("Failed: %(what)s: %(reason)s", { what: label, reason: result.reason }));
      return;
    }
    if (result.cursor) cursor = result.cursor;
  }
  showResult("pending", ccT("No answer yet about %(what)s (is the PBX connector running?)", { what: label }));
}

function commandDone(command) {
  const panel = $("call-control");
  if (command === "leave_conference") {
    rooms.delete(panel.dataset.server + "/" + panel.dataset.callId);
    showRoom();
    setStage("left"); // the card offers only the wrap-up now
  }
  if (command === "click_to_call") refreshLists();
}

// --- pops ---------------------------------------------------------------------------------

function showPop(message) {
  const pops = $("pops");
  const key = cardKey(message);
  let holder = findCard(key);
  const isNew = !holder;
  let typed = null;
  if (holder) typed = wrapupValues(holder);
  if (!holder) {
    holder = document.createElement("div");
    holder.className = "pop";
    holder.dataset.key = key;
    pops.prepend(holder);
  }
  holder.innerHTML = message.html;
  if (typed) restoreWrapup(holder, typed);
  else if (pendingByKey.has(key)) restoreWrapup(holder, pendingByKey.get(key));
  $("no-pops").hidden = true;
  shown.delete(key); // re-insert: the newest pop is last
  shown.set(key, message);
  setCurrent(message);
  renderPending();
  if (isNew && message.stage === "offered") alertPop(message);
}

function wrapupValues(holder) {
  const form = holder.querySelector("form.wrapup");
  if (!form) return null;
  return { disposition: form.elements.disposition.value, notes: form.elements.notes.value };
}

function restoreWrapup(holder, values) {
  const form = holder.querySelector("form.wrapup");
  if (!form || !values) return;
  if (values.disposition) form.elements.disposition.value = values.disposition;
  if (values.notes) form.elements.notes.value = values.notes;
}

function closePop(message) {
  const kept = message.reason === "ended" || message.reason === "transferred";
  const holder = findCard(cardKey(message));
  const card = holder && holder.querySelector(".pop-card");
  const answered = card && card.dataset.answered === "yes";
  endCurrent(message, kept && answered);
  if (!holder) return;
  if (kept && answered) {
    // Kept for the wrap-up (also on the server: a reload shows it under "Wrap-ups to finish").
    card.classList.add("ended");
    card.dataset.endedAt = String(Date.now());
    const focusIn = holder.querySelector("form.wrapup select");
    if (focusIn && !document.activeElement.closest("form")) focusIn.focus();
  } else {
    holder.remove();
    if (!document.querySelector("#pops > .pop")) $("no-pops").hidden = false;
  }
}

// On hold / taken off hold (from the phone: AMI has no hold action for a bridged call).
function showHeld(message) {
  const panel = $("call-control");
  if (panel.dataset.server !== message.server || panel.dataset.callId !== message.call_id) return;
  const stage = panel.dataset.stage;
  if (message.held && (stage === "answered" || stage === "identified")) setStage("held");
  else if (!message.held && stage === "held") setStage("answered");
}

function handle(message) {
  if (!message.id) return; // pong and other control frames
  if (state.lastId && !idAfter(message.id, state.lastId)) return; // already shown
  state.lastId = message.id;
  if (message.type === "pop") showPop(message);
  else if (message.type === "pop.closed") closePop(message);
  else if (message.type === "call.held") showHeld(message);
  else if (message.type === "call.conference") showParticipants(message);
  else if (message.type === "call.consultation") showConsultation(message);
}

// --- an attended transfer's consultation (the transferring operator's side) ---------------

const CONSULT_WORDS = () => ({
  ringing: (name) => ccT("Calling %(name)s — caller on hold", { name }),
  talking: (name) => ccT("Consulting %(name)s — caller on hold", { name }),
  with_caller: (name) => ccT("Talking to the caller — %(name)s on hold", { name }),
  completed: (name) => ccT("Transferred to %(name)s", { name }),
  cancelled: (name) => ccT("Transfer to %(name)s cancelled — you are back with the caller", { name }),
});
const CONSULT_FORMS = ["transfer-complete-form", "transfer-swap-form", "transfer-cancel-form"];

function showConsultation(message) {
  const panel = $("call-control");
  if (panel.dataset.server !== message.server || panel.dataset.callId !== message.call_id) return;
  const words = CONSULT_WORDS()[message.state];
  const running = ["ringing", "talking", "with_caller"].includes(message.state);
  const box = $("consultation");
  box.dataset.state = words ? message.state : "";
  box.hidden = !words;
  box.style.display = box.hidden ? "none" : "";
  $("consultation-state").textContent = words ? words(message.target) : "";
  for (const id of CONSULT_FORMS) {
    $(id).hidden = !running;
    $(id).style.display = running ? "" : "none";
  }
  $("transfer-swap").textContent =
    message.state === "with_caller" ? ccT("Talk to %(name)s", { name: message.target }) : ccT("Talk to the caller");
}

function hideConsultation() {
  const box = $("consultation");
  box.hidden = true;
  box.style.display = "none";
  box.dataset.state = "";
}

function setLink(status, text) {
  const link = $("link");
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
    setLink("open", ccT("live"));
  });
  socket.addEventListener("message", (event) => {
    try {
      handle(JSON.parse(event.data));
    } catch (error) {
      console.error("bad message", error);
    }
  });
  socket.addEventListener("close", (event) => {
    setLink("closed", ccT("disconnected"));
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

// --- alerts: a desktop notification and a ring on a new pop (asked once, from a click) -------

const alerts = { audio: null };

function alertsWanted() {
  return localStorage.getItem("cc-alerts") === "on";
}

function showAlertsButton() {
  const button = $("enable-alerts");
  const asked = "Notification" in window && Notification.permission !== "default";
  button.hidden = alertsWanted() && (asked || !("Notification" in window));
}

async function enableAlerts() {
  localStorage.setItem("cc-alerts", "on");
  try {
    alerts.audio = alerts.audio || new AudioContext();
    await alerts.audio.resume();
  } catch (error) {
    alerts.audio = null;
  }
  if ("Notification" in window && Notification.permission === "default") {
    try {
      await Notification.requestPermission();
    } catch (error) {
      // refused or unsupported: the ring still sounds
    }
  }
  showAlertsButton();
  say($("flash"), ccT("Call alerts are on."));
}

function ring() {
  const ctx = alerts.audio;
  if (!ctx || ctx.state !== "running") return;
  const now = ctx.currentTime;
  for (const [start, freq] of [[0, 440], [0.25, 480], [0.6, 440], [0.85, 480]]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.15, now + start);
    gain.gain.setValueAtTime(0, now + start + 0.22);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + start);
    osc.stop(now + start + 0.25);
  }
  document.body.dataset.rang = String(Number(document.body.dataset.rang || 0) + 1);
}

function alertPop(message) {
  if (!alertsWanted()) return;
  ring();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const caller = message.caller || {};
  const holder = findCard(cardKey(message));
  const nameNode = holder && holder.querySelector(".customer-name");
  const who = (nameNode && nameNode.textContent) || caller.name || ccT("Unknown caller");
  try {
    const note = new Notification(ccT("Incoming call"), {
      body: who + " — " + (caller.number_raw || caller.number || ""),
      tag: cardKey(message),
    });
    note.onclick = () => {
      window.focus();
      note.close();
    };
  } catch (error) {
    // some browsers allow notifications only from a service worker
  }
}

// --- forms: results next to their control ---------------------------------------------------

document.addEventListener("cc:failed", (event) => {
  const form = event.target;
  const local = form.querySelector(".form-status");
  if (local) say(local, ccT("Not saved: %(reason)s", { reason: event.detail }), "failed");
  else if (form.closest(".call-control, .click-to-call, #state")) {
    showResult("refused", ccT("Refused: %(reason)s", { reason: event.detail }));
  }
  say($("flash"), $("flash").textContent);
});

// Recording pause / card payment: what the page shows after the action was published.
function showRecording(action, reason) {
  const paused = action === "recording.pause";
  $("recording-control").dataset.recording = paused ? "paused" : "on";
  $("recording-state").textContent = paused
    ? reason === "card_payment" ? ccT("Recording paused for card payment") : ccT("Recording paused")
    : ccT("Recording on");
  const paying = paused && reason === "card_payment";
  $("card-payment-form").hidden = paying;
  $("card-payment-done-form").hidden = !paying;
}

document.addEventListener("cc:saved", (event) => {
  const form = event.target;
  const local = form.querySelector(".form-status");
  if (local) say(local, ccT("Saved."), "done");
  say($("flash"), local ? "" : $("flash").textContent);
  if (form.closest("#recording-control") && event.detail && event.detail.action) {
    showRecording(event.detail.action, event.detail.reason);
  }
  if (event.detail && event.detail.result_url) followCommand(event.detail);
  if (form.id === "transfer-form") $("transfer-note").value = "";
  if (form.id === "invite-form") $("invite-target").value = "";
  if (form.classList.contains("wrapup")) {
    const holder = form.closest(".pop");
    const pending = form.closest("[data-pending]");
    if (holder) {
      const card = holder.querySelector(".pop-card");
      if (card) {
        endCurrent({ server: card.dataset.server, call_id: card.dataset.callId }, false);
        pendingByKey.delete(card.dataset.server + "/" + card.dataset.callId);
      }
      holder.remove();
      if (!document.querySelector("#pops > .pop")) $("no-pops").hidden = false;
    }
    if (pending) {
      pendingByKey.delete(pending.dataset.pending);
      pending.remove();
      renderPending();
    }
    say($("flash"), ccT("Wrap-up saved."));
    refreshLists();
  }
  if (form.closest("#state")) refreshState();
});

// --- wrap-up kept on the server: drafts as you type, the ones still owed after a reload -------

const pendingByKey = new Map();
const draftTimers = new WeakMap();

document.addEventListener("input", (event) => {
  const form = event.target.closest && event.target.closest("form.wrapup");
  if (!form || !form.dataset.draft) return;
  clearTimeout(draftTimers.get(form));
  draftTimers.set(form, setTimeout(() => saveDraft(form), 600));
});
document.addEventListener("change", (event) => {
  const form = event.target.closest && event.target.closest("form.wrapup");
  if (form && form.dataset.draft) saveDraft(form);
});

async function saveDraft(form) {
  try {
    await ccFetch(form.dataset.draft, new FormData(form));
    form.dataset.kept = "yes";
  } catch (error) {
    // the saving itself reports what is wrong
  }
}

function pendingForm(item, dispositions) {
  const key = item.server + "/" + item.call_id;
  const base = "/api/calls/" + encodeURIComponent(item.server) + "/" + encodeURIComponent(item.call_id);
  const box = el("article", { class: "pending-wrapup", dataset: { pending: key, started: String(item.started_at) } });
  const title = el("h3", {}, (item.customer_name || item.caller_number || item.call_id) + " ");
  title.append(el("span", { class: "wrapup-timer" }));
  box.append(title);
  const form = el("form", {
    "data-cc-form": "",
    action: base + "/wrapup",
    method: "post",
    class: "wrapup",
    dataset: { draft: base + "/wrapup/draft", ccDone: ccT("Wrap-up saved.") },
  });
  form.append(el("input", { type: "hidden", name: "customer_id", value: item.customer_id === null ? "" : String(item.customer_id) }));
  const label = el("label", {}, ccT("Disposition") + " ");
  const select = el("select", { name: "disposition", required: "" });
  select.append(el("option", { value: "" }, ccT("— choose —")));
  for (const d of dispositions) select.append(el("option", { value: d }, d));
  select.value = item.disposition || "";
  label.append(select);
  const notesLabel = el("label", {}, ccT("Notes") + " ");
  const notes = el("textarea", { name: "notes", maxlength: "4000", rows: "2" });
  notes.value = item.notes || "";
  notesLabel.append(notes);
  const save = el("button", { type: "submit", class: "save-wrapup" }, ccT("Save wrap-up"));
  form.append(label, notesLabel, save, el("span", { class: "form-status", role: "status" }));
  box.append(form);
  return box;
}

let pendingDispositions = [];

function renderPending() {
  const list = $("pending-list");
  for (const node of list.querySelectorAll("[data-pending]")) {
    // a call with its card on screen is wrapped up on the card
    if (findCard(node.dataset.pending) || !pendingByKey.has(node.dataset.pending)) node.remove();
  }
  for (const [key, item] of pendingByKey) {
    if (findCard(key) || list.querySelector('[data-pending="' + CSS.escape(key) + '"]')) continue;
    list.append(pendingForm(item, pendingDispositions));
  }
  $("pending-wrapups").hidden = !list.children.length;
}

async function loadPending() {
  try {
    const response = await fetch("/api/operator/wrapups", { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    pendingDispositions = data.dispositions || [];
    for (const item of data.items) {
      const key = item.server + "/" + item.call_id;
      pendingByKey.set(key, item);
      const holder = findCard(key);
      if (holder) restoreWrapup(holder, item);
    }
    renderPending();
    tickCall();
  } catch (error) {
    // tried again on the next load
  }
}

// --- the operator's state: what the wallboard shows, never what was asked --------------------
// The connector decides it (console, supervisor, Asterisk's autopause, wrap-up) and the
// statistics publish it; the page polls it so a force pause or a wrap-up shows at once.

const STATE_POLL_MS = 1000;
// The words the wallboard uses too (the two must read the same).
const STATE_WORDS = () => ({
  available: ccT("available"),
  paused: ccT("paused"),
  offline: ccT("offline"),
  wrapup: ccT("wrapup"),
  ringing: ccT("ringing"),
  on_call: ccT("on call"),
});

// Reasons Asterisk gives (not an operator's choice), in the wallboard's words.
const REASON_WORDS = () => ({ "Auto-Pause": ccT("No answer — auto-pause") });

function showState(data) {
  const box = $("state");
  const name = String(data.state || "offline");
  const words = STATE_WORDS()[name] || name.replace(/_/g, " ");
  const reason = data.reason ? REASON_WORDS()[data.reason] || ccT(data.reason) : "";
  $("state-label").textContent = words + (reason ? " (" + reason + ")" : "");
  box.dataset.state = name;
  box.dataset.since = String(data.since || 0);
  box.dataset.until = String(data.until || 0);
  const endWrapup = $("end-wrapup-form");
  endWrapup.hidden = name !== "wrapup";
  endWrapup.style.display = endWrapup.hidden ? "none" : ""; // .inline would show it anyway
  tickTimer();
}

// Time in the state; in a timed wrap-up, the time left.
function tickTimer() {
  const box = $("state");
  const since = Number(box.dataset.since) || 0;
  const until = Number(box.dataset.until) || 0;
  const timer = $("state-timer");
  if (box.dataset.state === "wrapup" && until) {
    timer.textContent = ccT("%(seconds)s s left", { seconds: Math.max(0, Math.ceil(until - Date.now() / 1000)) });
  } else {
    timer.textContent = since ? mmss(Date.now() / 1000 - since) : "";
  }
}

async function refreshState() {
  try {
    const response = await fetch("/api/operator/state", { credentials: "same-origin" });
    if (response.ok) showState(await response.json());
  } catch (error) {
    // the next poll tries again
  }
}

// --- dial pad, customer search, my callbacks, my calls today -------------------------------

function dialTo(number, customerId) {
  $("call-number").value = number;
  $("call-customer").value = customerId === null || customerId === undefined ? "" : String(customerId);
  $("click-to-call").requestSubmit($("click-to-call-button"));
}

function callButton(number, customerId, label) {
  const button = el("button", { type: "button", class: "call-this" }, ccT("Call"));
  button.setAttribute("aria-label", ccT("Call %(who)s", { who: label }));
  button.addEventListener("click", () => dialTo(number, customerId));
  return button;
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

async function searchCustomers(query) {
  const list = $("customer-results");
  list.textContent = "";
  if (!query.trim()) return;
  let data;
  try {
    data = await getJson("/api/customers?limit=10&q=" + encodeURIComponent(query));
  } catch (error) {
    list.append(el("li", { class: "empty" }, ccT("Search failed: %(reason)s", { reason: error.message })));
    return;
  }
  if (!data.items.length) list.append(el("li", { class: "empty" }, ccT("Nobody found.")));
  for (const c of data.items) {
    const item = el("li", { class: "customer-result", dataset: { customerId: String(c.id) } });
    item.append(el("bdi", { class: "name" }, c.name));
    if (c.vip) item.append(" ", el("span", { class: "badge vip-badge" }, ccT("VIP")));
    const details = [c.company, c.account_number].filter(Boolean).join(" · ");
    if (details) item.append(el("span", { class: "detail" }, " " + details));
    for (const phone of c.phones || []) {
      const row = el("div", { class: "phone" }, phone.number + " ");
      row.append(callButton(phone.number, c.id, c.name));
      item.append(row);
    }
    list.append(item);
  }
}

function when(epoch) {
  return new Date(epoch * 1000).toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
}

async function loadCallbacks() {
  const list = $("my-callbacks");
  let data;
  try {
    data = await getJson("/api/callbacks");
  } catch (error) {
    return;
  }
  list.textContent = "";
  const open = data.items.filter((c) => c.status === "pending" || c.status === "scheduled" || c.status === "due");
  const rows = open.length ? open : data.items.filter((c) => c.status !== "done" && c.status !== "cancelled");
  if (!rows.length) list.append(el("li", { class: "empty" }, ccT("No callbacks for you.")));
  for (const c of rows.slice(0, 20)) {
    const item = el("li", { class: "callback" + (c.overdue ? " overdue" : "") });
    item.append(el("bdi", {}, c.customer || c.number), " ", el("span", { class: "detail" }, c.due + (c.note ? " — " + c.note : "")), " ");
    item.append(callButton(c.number, c.customer_id, c.customer || c.number));
    list.append(item);
  }
}

async function loadCalls() {
  const list = $("my-calls");
  let data;
  try {
    data = await getJson("/api/operator/calls");
  } catch (error) {
    return;
  }
  list.textContent = "";
  if (!data.items.length) list.append(el("li", { class: "empty" }, ccT("No calls yet today.")));
  for (const c of data.items.slice(0, 30)) {
    const item = el("li", { class: "my-call" });
    const who = c.customer || c.number || ccT("Unknown caller");
    item.append(el("time", {}, when(c.started_at)), " ", el("bdi", {}, who), " ");
    item.append(el("span", { class: "detail" }, mmss(c.talk_seconds) + (c.disposition ? " · " + c.disposition : "")), " ");
    if (c.number) item.append(callButton(c.number, c.customer_id, who));
    list.append(item);
  }
}

function refreshLists() {
  loadCallbacks();
  loadCalls();
}

// --- the transfer dialog: operators and queues with who is free ----------------------------

async function openTransferDialog() {
  const dialog = $("transfer-dialog");
  let data;
  try {
    data = await getJson("/api/operator/transfer-targets");
  } catch (error) {
    showResult("failed", ccT("Failed: %(what)s: %(reason)s", { what: ccT("transfer"), reason: error.message }));
    return;
  }
  const people = $("transfer-operators");
  const queues = $("transfer-queues");
  people.textContent = "";
  queues.textContent = "";
  const options = $("transfer-options");
  options.textContent = "";
  const pick = (target) => {
    $("transfer-target").value = target;
    dialog.close();
    $("transfer-note").focus();
  };
  for (const op of data.operators) {
    const button = el("button", { type: "button", class: "pick", dataset: { target: op.extension, state: op.state } });
    button.append(el("bdi", {}, op.name), " " + op.extension + " — " + (STATE_WORDS()[op.state] || op.state));
    button.addEventListener("click", () => pick(op.extension));
    const item = el("li");
    item.append(button);
    people.append(item);
    options.append(el("option", { value: op.extension }, op.name));
  }
  for (const q of data.queues) {
    const button = el("button", { type: "button", class: "pick", dataset: { target: q.name } });
    button.append(el("span", {}, q.name), " " + ccT("%(free)s free, %(waiting)s waiting", { free: q.available, waiting: q.waiting }));
    button.addEventListener("click", () => pick(q.name));
    const item = el("li");
    item.append(button);
    queues.append(item);
    options.append(el("option", { value: q.name }, q.name));
  }
  if (!data.operators.length) people.append(el("li", { class: "empty" }, ccT("No other operators.")));
  dialog.showModal();
  const first = dialog.querySelector("button.pick");
  if (first) first.focus();
}

// --- keyboard shortcuts (Alt + a letter; "?" for the list) -----------------------------------

function press(id) {
  const node = $(id);
  if (!node || node.closest("[hidden]")) return false;
  node.click();
  return true;
}

function currentWrapupForm() {
  const panel = $("call-control");
  const key = panel.dataset.server + "/" + panel.dataset.callId;
  const holder = findCard(key);
  return (
    (holder && holder.querySelector("form.wrapup")) ||
    document.querySelector("#pops form.wrapup") ||
    document.querySelector("#pending-list form.wrapup")
  );
}

const SHORTCUTS = {
  KeyW: () => {
    const form = currentWrapupForm();
    if (form) form.elements.disposition.focus();
    return !!form;
  },
  KeyS: () => {
    const focused = document.activeElement && document.activeElement.closest("form.wrapup");
    const form = focused || currentWrapupForm();
    if (form) form.requestSubmit();
    return !!form;
  },
  KeyE: () => press("end-wrapup"),
  KeyT: () => {
    if ($("transfer-form").hidden || $("call-control").hidden) return false;
    $("transfer-target").focus();
    return true;
  },
  KeyC: () => press("start-conference"),
  KeyI: () => {
    if ($("invite-form").hidden || $("call-control").hidden) return false;
    $("invite-target").focus();
    return true;
  },
  KeyR: () => {
    const paused = $("recording-control").dataset.recording === "paused";
    return press(paused ? "resume-recording" : "pause-recording");
  },
  KeyX: () => press("hangup-call"),
  Digit1: () => press("set-available"),
  KeyP: () => press("set-paused"),
  KeyD: () => {
    $("call-number").focus();
    return true;
  },
  KeyF: () => {
    $("customer-search").focus();
    return true;
  },
};

function typing(target) {
  return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

document.addEventListener("keydown", (event) => {
  if (event.altKey && !event.ctrlKey && !event.metaKey) {
    // Buttons other plugins add (the simulated phone) say their own key.
    for (const button of document.querySelectorAll(".phone-buttons button[data-key]")) {
      if (event.code === "Key" + button.dataset.key.toUpperCase()) {
        event.preventDefault();
        button.click();
        return;
      }
    }
    const action = SHORTCUTS[event.code];
    if (action && action()) event.preventDefault();
    return;
  }
  if (event.key === "?" && !typing(event.target)) {
    event.preventDefault();
    $("help-dialog").showModal();
    $("help-close").focus();
  }
});

// --- start ---------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  connect();
  tickTimer();
  refreshState();
  loadPending();
  refreshLists();
  setInterval(refreshState, STATE_POLL_MS);
  setInterval(() => {
    tickTimer();
    tickCall();
  }, 500);
  setInterval(refreshLists, 30000);
  showAlertsButton();
  if (alertsWanted()) {
    // A reload needs one gesture again before a sound may play; any click will do.
    document.addEventListener("pointerdown", () => enableAlerts().catch(() => {}), { once: true });
  }
  $("enable-alerts").addEventListener("click", enableAlerts);
  $("help-button").addEventListener("click", () => {
    $("help-dialog").showModal();
    $("help-close").focus();
  });
  $("transfer-directory").addEventListener("click", openTransferDialog);
  $("dialpad").addEventListener("click", (event) => {
    const key = event.target.closest("button.key");
    if (!key) return;
    $("call-number").value += key.dataset.key;
    $("call-customer").value = "";
  });
  $("dial-clear").addEventListener("click", () => {
    $("call-number").value = "";
    $("call-customer").value = "";
    $("call-number").focus();
  });
  $("call-number").addEventListener("input", () => {
    $("call-customer").value = "";
  });
  $("customer-search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    searchCustomers($("customer-search").value);
  });
});
