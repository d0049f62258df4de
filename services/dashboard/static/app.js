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

// The invoice form reads an amount as the server will: the form carries the locale's grammar (the same regular
// expressions the server matches) and each amount's precision and scale from its schema. Amounts are exact
// (BigInt of the smallest unit), and a line's total is rounded half up to the cent, as the invoice generator does.
function amounts(form) {
  const d = form.dataset;
  const pattern = new RegExp(d.pattern);
  const ambiguous = new RegExp(d.ambiguous);
  const read = (text, places, digits) => {
    text = text.trim();
    if (places > 0 && ambiguous.test(text)) return null;
    const written = pattern.exec(text);
    if (!written) return null;
    const whole = written[2].split(d.group).join("").replace(/^0+/, "");
    const fraction = (written[3] || "").replace(/0+$/, "");
    if (fraction.length > places || whole.length > digits - places) return null;
    const units = BigInt((whole || "0") + fraction.padEnd(places, "0"));
    return { units: written[1] === "-" ? -units : units, places };
  };
  const grouped = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, d.group);
  // Written as formatting.py writes it: the units grouped, the fraction without the zeros its scale pads it with.
  const number = ({ units, places }, keepZeros) => {
    const digits = (units < 0n ? -units : units).toString().padStart(places + 1, "0");
    const whole = digits.slice(0, digits.length - places);
    const fraction = keepZeros ? digits.slice(digits.length - places) : digits.slice(digits.length - places).replace(/0+$/, "");
    return (units < 0n ? "-" : "") + grouped(whole) + (fraction ? d.decimal + fraction : "");
  };
  const money = (amount) => {
    const text = number(amount, true);
    return text.startsWith("-") ? "-" + d.currency + text.slice(1) : d.currency + text;
  };
  const round = ({ units, places }, to) => {  // half up: away from zero at the half, as Python's ROUND_HALF_UP
    if (places <= to) return { units: units * 10n ** BigInt(to - places), places: to };
    const step = 10n ** BigInt(places - to);
    const size = ((units < 0n ? -units : units) + step / 2n) / step;
    return { units: units < 0n ? -size : size, places: to };
  };
  const cents = Number(d.totalPlaces);
  const line = (row) => {
    const [, count, price] = [...row.querySelectorAll("input")].map((input) => input.value);
    const quantity = read(count, Number(d.quantityPlaces), Number(d.quantityDigits));
    const unitPrice = read(price, Number(d.pricePlaces), Number(d.priceDigits));
    if (!quantity || !unitPrice) return null;
    const total = round({ units: quantity.units * unitPrice.units, places: quantity.places + unitPrice.places }, cents);
    return { reading: `${number(quantity, false)} × ${money(round(unitPrice, cents))}`, total };
  };
  return { line, money, cents };
}

function bindInvoiceForm() {
  const form = document.getElementById("invoice-form");
  const rows = document.getElementById("items");
  const add = document.getElementById("add-item");
  if (!form || !rows || !add) return;
  const { line, money, cents } = amounts(form);

  const total = () => {
    let subtotal = 0n;
    let complete = true;
    rows.querySelectorAll("tr.item").forEach((row) => {
      const blank = [...row.querySelectorAll("input")].every((input) => !input.value.trim());
      const read = blank ? null : line(row);
      row.querySelector(".reading").textContent = read ? read.reading : "";
      row.querySelector("output.line-total").textContent = read ? money(read.total) : "—";
      if (read) subtotal += read.total.units;
      else if (!blank) complete = false;
    });
    document.getElementById("subtotal").textContent = complete ? money({ units: subtotal, places: cents }) : "—";
  };
  // Each row's fields are named by their row: "Unit price, service 2".
  const renumber = () => {
    rows.querySelectorAll("tr.item").forEach((row, index) => {
      row.querySelectorAll("input").forEach((input) => {
        input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/, service \d+$/, `, service ${index + 1}`));
        input.id = `items-${index}-${input.name}`;
      });
    });
  };
  add.addEventListener("click", () => {
    const row = rows.querySelector("tr.item").cloneNode(true);
    row.querySelectorAll(".field-problem").forEach((problem) => problem.remove());
    row.querySelectorAll("input").forEach((input) => {
      input.value = "";
      ["aria-invalid", "aria-describedby", "autofocus"].forEach((name) => input.removeAttribute(name));
    });
    rows.appendChild(row);
    renumber();
    total();
    row.querySelector("input").focus();
  });
  rows.addEventListener("click", (event) => {
    if (!event.target.classList.contains("remove-item")) return;
    if (rows.querySelectorAll("tr.item").length > 1) event.target.closest("tr").remove();
    renumber();
    total();
  });
  rows.addEventListener("input", total);
  total();
}

document.addEventListener("DOMContentLoaded", () => {
  bindButtons();
  bindInvoiceForm();
  listen();
});
