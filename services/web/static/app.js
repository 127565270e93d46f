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

// The header's notifications badge: the unread count, when there is one.
document.addEventListener("DOMContentLoaded", () => {
  const badge = document.getElementById("non-lues");
  if (!badge) return;
  fetch("/notifications/compte", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : ""))
    .then((text) => {
      const n = parseInt(text, 10);
      if (n > 0) {
        badge.textContent = String(n);
        badge.setAttribute("aria-label", n + (n === 1 ? " non lue" : " non lues"));
        badge.hidden = false;
      }
    })
    .catch(() => {});
});
