// Live pages and the invoice form. Plain JavaScript, no libraries, nothing from other sites.
"use strict";

// Re-render the live part of the page from the server, without reloading the page.
async function refreshLive() {
  const live = document.querySelector("main[data-live]");
  if (!live) return;
  const response = await fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.querySelector("main[data-live]");
  if (fresh) live.innerHTML = fresh.innerHTML;
  bindButtons();
}

function listen() {
  if (!document.querySelector("main[data-live]") || !document.querySelector("form.signout")) return;
  const events = new EventSource("/events");
  let pending = null;
  const refreshSoon = () => {
    // Several replies in a burst become one refresh.
    if (pending) return;
    pending = setTimeout(() => { pending = null; refreshLive(); }, 100);
  };
  events.addEventListener("open", () => {
    document.body.dataset.live = "open";
    refreshSoon(); // catch up on anything that happened before the stream opened
  });
  events.addEventListener("error", () => { document.body.dataset.live = "reconnecting"; });
  events.addEventListener("invoice", refreshSoon);
  events.addEventListener("score", refreshSoon);
}

function bindButtons() {
  const print = document.getElementById("print");
  if (print) print.addEventListener("click", () => window.print());
}

function bindInvoiceForm() {
  const rows = document.getElementById("items");
  const add = document.getElementById("add-item");
  if (!rows || !add) return;
  add.addEventListener("click", () => {
    const row = rows.querySelector("tr.item").cloneNode(true);
    row.querySelectorAll("input").forEach((input) => { input.value = ""; });
    rows.appendChild(row);
    row.querySelector("input").focus();
  });
  rows.addEventListener("click", (event) => {
    if (!event.target.classList.contains("remove-item")) return;
    if (rows.querySelectorAll("tr.item").length > 1) event.target.closest("tr").remove();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  bindButtons();
  bindInvoiceForm();
  listen();
});
