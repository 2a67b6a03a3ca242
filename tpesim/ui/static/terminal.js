// A virtual TPE: pick a terminal and a card (or type a PAN), key the amount in the terminal's
// currency decimals, key the PIN on the keypad, and read the receipt the printer prints.
// The payment goes through the merchant API (POST /v1/terminals/{tid}/payments).
"use strict";

const PROMPTS = {
  amount: { fr: "MONTANT", en: "AMOUNT", ar: "المبلغ" },
  pin: { fr: "CODE PIN", en: "PIN", ar: "الرمز السري" },
  wait: { fr: "VEUILLEZ PATIENTER", en: "PLEASE WAIT", ar: "يرجى الانتظار" },
  card: { fr: "CHOISIR UNE CARTE", en: "PICK A CARD", ar: "اختر بطاقة" },
};
const vt = { fleet: [], stage: "amount", digits: "", pin: "" };

function prompt(key) { return PROMPTS[key][LANG] || PROMPTS[key].en; }

function terminal() { return vt.fleet.find((info) => info.id === document.getElementById("terminal-select").value); }

function amountMinor() { return Number(vt.digits || "0"); }

function draw(message) {
  const info = terminal();
  const screen = document.getElementById("screen");
  if (!info) { screen.textContent = "—"; return; }
  const lines = [el("div", {}, `${info.merchant}`), el("div", { class: "muted" }, info.id)];
  if (vt.stage === "amount") lines.push(el("div", {}, prompt("amount")), el("div", { class: "big", id: "amount-shown" }, money(amountMinor(), info.currency, info.currency_decimals)));
  if (vt.stage === "pin") lines.push(el("div", {}, money(amountMinor(), info.currency, info.currency_decimals)), el("div", {}, prompt("pin")), el("div", { class: "big", id: "pin-shown" }, "*".repeat(vt.pin.length)));
  if (vt.stage === "wait") lines.push(el("div", { class: "big" }, prompt("wait")));
  if (vt.stage === "done") lines.push(el("div", { class: "big", id: "verdict" }, message));
  screen.replaceChildren(...lines);
}

function key(digit) {
  if (vt.stage === "done") { reset(); }
  if (vt.stage === "amount" && vt.digits.length < 12) vt.digits = (vt.digits + digit).replace(/^0+/, "");
  else if (vt.stage === "pin" && vt.pin.length < 12) vt.pin += digit;
  draw();
}

function clearKey() {
  if (vt.stage === "amount") vt.digits = vt.digits.slice(0, -1);
  else if (vt.stage === "pin") vt.pin = vt.pin.slice(0, -1);
  draw();
}

function reset() { Object.assign(vt, { stage: "amount", digits: "", pin: "" }); draw(); }

async function ok() {
  if (vt.stage === "amount" && amountMinor() > 0) { vt.stage = "pin"; draw(); return; }
  if (vt.stage === "pin" && vt.pin.length >= 4) await pay();
  else if (vt.stage === "done") reset();
}

async function pay() {
  const info = terminal();
  const pan = document.getElementById("pan-input").value.replace(/\s/g, "");
  const body = { amount_minor: amountMinor(), currency: info.currency, pin: vt.pin,
                 idempotency_key: crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random()) };
  if (pan) body.pan = pan; else body.card_id = document.getElementById("card-select").value;
  vt.stage = "wait"; draw();
  let payment;
  try {
    payment = await json(`/v1/terminals/${info.id}/payments`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch (error) {
    vt.stage = "done"; draw(error.message); return;
  }
  vt.stage = "done";
  draw(`${payment.response_code || "--"} ${payment.meaning}`);
  document.getElementById("screen").dataset.status = payment.status;
  const receipt = document.getElementById("receipt");
  receipt.textContent = payment.receipt || "(no receipt)";
  receipt.hidden = false;
  const link = document.getElementById("ladder-link");
  link.href = `/#tx=${encodeURIComponent(payment.id)}`;
  link.dataset.id = payment.id;
  link.hidden = false;
}

async function start() {
  setLang(LANG);
  const [snapshot, cards] = await Promise.all([json("/ui/state"), json("/ui/cards")]);
  vt.fleet = snapshot.fleet;
  document.getElementById("terminal-select").replaceChildren(...vt.fleet.map((info) =>
    el("option", { value: info.id }, `${info.id} · ${info.merchant} · ${info.currency}`)));
  document.getElementById("card-select").replaceChildren(...cards.map((card) =>
    el("option", { value: card.id }, `${card.id} · ${card.pan} · ${card.product}${card.note ? " · " + card.note : ""}`)));
  document.getElementById("terminal-select").addEventListener("change", reset);
  document.querySelectorAll("#keypad [data-key]").forEach((button) => button.addEventListener("click", () => key(button.dataset.key)));
  document.getElementById("key-clear").addEventListener("click", clearKey);
  document.getElementById("key-cancel").addEventListener("click", reset);
  document.getElementById("key-ok").addEventListener("click", ok);
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
    if (/^[0-9]$/.test(event.key)) key(event.key);
    else if (event.key === "Backspace") clearKey();
    else if (event.key === "Enter") ok();
    else if (event.key === "Escape") reset();
  });
  reset();
  document.body.dataset.ready = "yes";
}

start();
