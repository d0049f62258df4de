// Live pages and the invoice form. Plain JavaScript, no libraries, nothing from other sites.
"use strict";

// The live part of the page once from the server, without reloading the page: for an event drawn for no page.
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

// Each event carries the parts of the pages that show its request, rendered by the server, each named as the
// element it replaces (data-fragment): they go in place, and the page asks the server for nothing.
function apply(event) {
  const fragments = JSON.parse(event.data).fragments;
  if (!fragments) {
    // Sent before this stream was counted as listening, so rendered for no one: ask for the page once instead.
    refreshLive();
    return;
  }
  for (const [name, html] of Object.entries(fragments)) {
    document.querySelectorAll(`[data-fragment="${CSS.escape(name)}"]`).forEach((element) => {
      const open = [...element.querySelectorAll("details[open]")].map((d) => d.querySelector("summary")?.textContent);
      element.outerHTML = html;
      // A table of numbers someone opened stays open.
      document.querySelectorAll(`[data-fragment="${CSS.escape(name)}"] details`).forEach((d) => {
        if (open.includes(d.querySelector("summary")?.textContent)) d.open = true;
      });
    });
  }
  bindButtons();
}

// The stream starts from when the page was drawn (what changed since comes first); after a break the browser says the
// last event it got (Last-Event-ID) and the server sends what it missed.
function listen() {
  const live = document.querySelector("main[data-live]");
  if (!live || !document.querySelector("form.signout")) return;
  const events = new EventSource(`/events?since=${encodeURIComponent(live.dataset.since || "")}`);
  events.addEventListener("open", () => { document.body.dataset.live = "open"; });
  events.addEventListener("error", () => { document.body.dataset.live = "reconnecting"; });
  events.addEventListener("invoice", apply);
  events.addEventListener("score", apply);
  events.addEventListener("charts", apply);
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
