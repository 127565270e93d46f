// Optional niceties; every page works without this file.
// Tables get a live text filter above them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".table-wrap").forEach((wrap, i) => {
    const rows = Array.from(wrap.querySelectorAll("tbody tr"));
    if (rows.length < 8) return;
    const id = "filtre-" + i;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = document.documentElement.lang === "fr" ? "Filtrer la liste" : "Filter the list";
    const input = document.createElement("input");
    input.type = "search";
    input.id = id;
    input.addEventListener("input", () => {
      const q = input.value.trim().toLowerCase();
      rows.forEach((row) => { row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q); });
    });
    wrap.before(label, input);
  });
});
