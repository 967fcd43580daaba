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
  try {
    const result = await ccFetch(form.getAttribute("action"), new FormData(form));
    form.dispatchEvent(new CustomEvent("cc:saved", { bubbles: true, detail: result }));
    if (flash) flash.textContent = "Saved.";
  } catch (error) {
    if (flash) flash.textContent = "Not saved: " + error.message;
  }
});
