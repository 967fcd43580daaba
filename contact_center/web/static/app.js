// Shared helpers for every page: fetch with the session's CSRF token.
"use strict";

// Translations of this page's JS messages (contact_center/i18n): ccT("Text") in the user's language.
const ccCatalog = (() => {
  const node = document.getElementById("cc-i18n");
  try {
    return node ? JSON.parse(node.textContent || "{}") : {};
  } catch (error) {
    return {};
  }
})();

function ccT(message, values) {
  let text = ccCatalog[message] || message;
  if (values) {
    for (const [key, value] of Object.entries(values)) text = text.split("%(" + key + ")s").join(String(value));
  }
  return text;
}

function ccCsrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

// POST a form (or FormData) with the CSRF header; returns the parsed JSON or throws Error.
async function ccFetch(url, body) {
  const response = await fetch(url, {
    method: "POST",
    body: body,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": ccCsrfToken() },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(text || response.statusText);
  return text ? JSON.parse(text) : {};
}

// Forms marked data-cc-form are submitted with ccFetch instead of a page load.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-cc-form")) return;
  event.preventDefault();
  const flash = document.getElementById("flash");
  const action = form.getAttribute("action");
  if (!action) return; // a form not pointed anywhere yet (e.g. no current call)
  try {
    // The submitter's name/value goes along (e.g. mode=blind from the button pressed).
    const result = await ccFetch(action, new FormData(form, event.submitter));
    form.dispatchEvent(new CustomEvent("cc:saved", { bubbles: true, detail: result }));
    if (flash) flash.textContent = form.dataset.ccDone || ccT("Saved.");
  } catch (error) {
    form.dispatchEvent(new CustomEvent("cc:failed", { bubbles: true, detail: error.message }));
    if (flash) flash.textContent = ccT("Not saved: %(reason)s", { reason: error.message });
  }
});
