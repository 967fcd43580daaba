// Shared helpers for every page: fetch with the session's CSRF token.
"use strict";

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
    if (flash) flash.textContent = form.dataset.ccDone || "Saved.";
  } catch (error) {
    form.dispatchEvent(new CustomEvent("cc:failed", { bubbles: true, detail: error.message }));
    if (flash) flash.textContent = "Not saved: " + error.message;
  }
});
