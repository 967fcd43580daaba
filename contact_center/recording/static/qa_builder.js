// QA form builder: add criteria and sections; field names stay s<section>.q<row>.<field>.
"use strict";

(function () {
  const sections = document.getElementById("qa-sections");
  const addSection = document.getElementById("add-section");
  if (!sections) return;

  function renumber(fieldset, si) {
    fieldset.dataset.section = String(si);
    fieldset.querySelector("legend").textContent = ccT("Section %(num)s", { num: si });
    fieldset.querySelectorAll("input, select").forEach((el) => {
      el.name = el.name.replace(/^s\d+\./, "s" + si + ".");
    });
    fieldset.querySelectorAll("tr.criterion").forEach((row, n) => {
      row.querySelectorAll("input, select").forEach((el) => {
        el.name = el.name.replace(/^(s\d+)\.q\d+\./, "$1.q" + (n + 1) + ".");
      });
    });
  }

  function blank(row) {
    row.querySelectorAll("input").forEach((el) => {
      if (el.type === "checkbox") el.checked = false;
      else el.value = el.name.endsWith(".weight") ? "1" : "";
    });
    row.querySelectorAll("select").forEach((el) => { el.selectedIndex = 0; });
    return row;
  }

  sections.addEventListener("click", (event) => {
    const button = event.target.closest(".add-criterion");
    if (!button) return;
    const fieldset = button.closest("fieldset");
    const body = fieldset.querySelector("tbody");
    const row = blank(body.querySelector("tr.criterion").cloneNode(true));
    body.appendChild(row);
    renumber(fieldset, Number(fieldset.dataset.section));
    row.querySelector("input").focus();
  });

  if (addSection) {
    addSection.addEventListener("click", () => {
      const first = sections.querySelector("fieldset.qa-section");
      const copy = first.cloneNode(true);
      copy.querySelectorAll("tr.criterion").forEach((row, n) => { if (n > 0) row.remove(); });
      blank(copy);
      copy.querySelector('input[name$=".title"]').value = "";
      sections.appendChild(copy);
      renumber(copy, sections.querySelectorAll("fieldset.qa-section").length);
      copy.querySelector("input").focus();
    });
  }
})();
