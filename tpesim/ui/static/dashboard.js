// The trainer's dashboard: live terminal grid, transaction feed, message ladder with every field
// explained (fr / ar / en), ledger positions and fault buttons. Fed by /ui/events (SSE).
"use strict";

const state = { fleet: [], terminals: {}, issuers: {}, issuerIds: [], transactions: new Map(),
                selected: null, detail: null, hop: null, ledgerTimer: null };

async function fault(target, id, action) {
  try {
    await json("/ui/faults", { method: "POST", headers: { "content-type": "application/json" },
                               body: JSON.stringify({ target, id, action }) });
  } catch (error) { alert(error.message); }
}

function statusClass(text) { return (text || "unknown").split(":")[0]; }

function renderTerminals() {
  const box = document.getElementById("terminals");
  const known = new Set(state.fleet.map((info) => info.id));
  const others = Object.keys(state.terminals).filter((tid) => !known.has(tid)).sort()
    .map((tid) => ({ id: tid, merchant: "", city: "", currency: "" }));  // run by another process
  box.replaceChildren(...[...state.fleet, ...others].map((info) => {
    const status = state.terminals[info.id] || "unknown";
    return el("div", { class: "tpe", id: `tpe-${info.id}` },
      el("b", {}, info.id), " ", el("span", { class: `pill ${statusClass(status)}` }, status),
      el("div", { class: "muted" }, `${info.merchant}, ${info.city} · ${info.currency}`),
      el("div", { class: "actions" },
        el("button", { onclick: () => fault("terminal", info.id, "unplug") }, t("unplug")),
        el("button", { onclick: () => fault("terminal", info.id, "plug") }, t("plug")),
        el("button", { onclick: () => fault("terminal", info.id, "paper-out") }, t("paperOut")),
        el("button", { onclick: () => fault("terminal", info.id, "paper-in") }, t("paperIn"))));
  }));
}

function renderIssuers() {
  const box = document.getElementById("issuers");
  box.replaceChildren(...state.issuerIds.map((id) => {
    const status = state.issuers[id] || "up";
    return el("div", { class: "issuer" }, el("span", {}, id, " ", el("span", { class: `pill ${statusClass(status)}` }, status)),
      el("span", {},
        el("button", { onclick: () => fault("issuer", id, "down") }, t("down")),
        el("button", { onclick: () => fault("issuer", id, "slow:2") }, t("slow")),
        el("button", { onclick: () => fault("issuer", id, "up") }, t("up"))));
  }));
}

// The issuer's back office (/v1/cards/...): unblock, block, set a card's balance.
const office = { cards: [] };

function minorUnits(text, decimals) {
  const plain = text.trim().replace(/\s/g, "").replace(",", ".");
  if (!/^[0-9]+(\.[0-9]+)?$/.test(plain)) return null;
  const [whole, fraction = ""] = plain.split(".");
  if (fraction.length > decimals) return null;
  return Number(whole) * 10 ** decimals + Number(fraction.padEnd(decimals, "0") || "0");
}

async function backOffice(action) {
  const card = office.cards.find((c) => c.id === document.getElementById("office-card").value);
  const result = document.getElementById("office-result");
  if (!card) return;
  try {
    let event;
    if (action === "balance") {
      const minor = minorUnits(document.getElementById("office-balance").value, card.decimals);
      if (minor === null) { result.textContent = t("badAmount"); return; }
      event = await json(`/v1/cards/${encodeURIComponent(card.id)}/balance`, { method: "PUT",
        headers: { "content-type": "application/json" }, body: JSON.stringify({ available_minor: minor }) });
    } else {
      event = await json(`/v1/cards/${encodeURIComponent(card.id)}/${action}`, { method: "POST" });
    }
    const detail = Object.entries(event.detail).map(([k, v]) => `${k} ${v}`).join(", ");
    result.textContent = `${event.card_id}: ${event.action}${detail ? ` (${detail})` : ""}`;
    refreshLedger();
  } catch (error) { result.textContent = error.message; }
}

async function startBackOffice() {
  office.cards = await json("/ui/cards");
  document.getElementById("office-card").replaceChildren(...office.cards.map((card) =>
    el("option", { value: card.id }, `${card.id} · ${card.pan}`)));
  document.getElementById("office-unblock").addEventListener("click", () => backOffice("unblock"));
  document.getElementById("office-block").addEventListener("click", () => backOffice("block"));
  document.getElementById("office-set").addEventListener("click", () => backOffice("balance"));
}

function renderFeed() {
  const showNetwork = document.getElementById("show-network").checked;
  const rows = [...state.transactions.values()].filter((tx) => showNetwork || !tx.network)
    .sort((a, b) => (a.at < b.at ? 1 : -1)).slice(0, 200);
  document.querySelector("#feed tbody").replaceChildren(...rows.map((tx) =>
    el("tr", { "data-id": tx.id, class: tx.id === state.selected ? "selected" : "", onclick: () => select(tx.id) },
      el("td", { class: "mono" }, tx.at.slice(11, 19)), el("td", { class: "mono" }, tx.tid),
      el("td", {}, `${tx.mti} ${tx.what}`), el("td", { class: "mono" }, tx.amount || ""),
      el("td", { class: "mono" }, tx.pan || ""), el("td", { class: "mono" }, tx.response_code || "—"),
      el("td", {}, el("span", { class: `pill ${statusClass(tx.status)}` }, tx.status)))));
}

async function select(id) {
  state.selected = id;
  history.replaceState(null, "", `#tx=${encodeURIComponent(id)}`);
  renderFeed();
  try { state.detail = await json(`/ui/transactions/${encodeURIComponent(id)}`); }
  catch (error) { document.getElementById("ladder").textContent = error.message; return; }
  document.getElementById("mermaid-button").disabled = false;
  document.getElementById("mermaid").hidden = true;
  renderLadder();
  const arrows = state.detail.arrows;
  if (state.hop === null || state.hop >= arrows.length) showHop(0);
  else showHop(state.hop);
}

function localLabel(arrow) {
  // The ladder's labels name message types in English; show them in the page's language.
  const names = state.detail.mti_names[arrow.mti];
  const english = names && `${arrow.mti} ${names.en}`;
  return english && arrow.label.startsWith(english) ? `${arrow.mti} ${names[LANG]}${arrow.label.slice(english.length)}` : arrow.label;
}

function renderLadder() {
  const detail = state.detail;
  if (!detail) return;
  document.getElementById("ladder-title").textContent = `${detail.summary.id} · ${detail.summary.status}`;
  const lanes = detail.lanes;
  const names = t("lanes");
  const grid = el("div", { class: "ladder", id: "ladder-grid" },
    ...lanes.map((lane, i) => el("div", { class: "lane-head" }, lane === "terminal" ? `${names[i]} ${detail.summary.tid}` : names[i])));
  detail.arrows.forEach((arrow, index) => {
    const a = lanes.indexOf(arrow.source), b = lanes.indexOf(arrow.target);
    const time = arrow.at.slice(11, 23);
    if (a === b) {
      grid.append(el("div", { class: `hop note ${index === state.hop ? "selected" : ""}`, "data-hop": index,
                              style: `grid-column: ${a + 1} / ${a + 2}`, onclick: () => showHop(index) },
                     localLabel(arrow), el("span", { class: "time" }, time)));
      return;
    }
    const [from, to] = [Math.min(a, b), Math.max(a, b)];
    grid.append(el("div", { class: `hop ${b > a ? "right" : "left"} ${arrow.kind} ${index === state.hop ? "selected" : ""}`,
                            "data-hop": index, title: arrow.label, style: `grid-column: ${from + 1} / ${to + 2}`,
                            onclick: () => showHop(index) },
                   el("span", { class: "label" }, localLabel(arrow)), el("div", { class: "line" }), el("span", { class: "time" }, time)));
  });
  document.getElementById("ladder").replaceChildren(grid);
}

function showHop(index) {
  state.hop = index;
  const detail = state.detail;
  const arrow = detail.arrows[index];
  if (!arrow) return;
  document.querySelectorAll(".hop").forEach((node) => node.classList.toggle("selected", Number(node.dataset.hop) === index));
  const message = detail.messages[arrow.event];
  const rtl = LANG === "ar" ? "rtl" : "";
  const extra = [message.route && `route: ${message.route}`, message.reason && `reason: ${message.reason}`, ...message.notes].filter(Boolean);
  document.getElementById("fields").replaceChildren(
    el("p", { class: "muted" }, `${message.hop} · ${message.event} · ${message.at}`),
    ...(extra.length ? [el("ul", { class: "mono muted" }, ...extra.map((line) => el("li", {}, line)))] : []),
    el("table", { id: "fields-table", class: rtl },
      el("thead", {}, el("tr", {}, ...["field", "name", "value", "meaning"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, ...message.fields.map((f) => el("tr", { "data-de": f.de },
        el("td", { class: "mono" }, f.de === "mti" ? "MTI" : `DE${f.de}`),
        el("td", {}, el("b", {}, f.name[LANG]), el("div", { class: "muted" }, f.about[LANG])),
        el("td", { class: "mono", dir: "ltr" }, f.value),
        el("td", {}, f.meaning ? f.meaning[LANG] : ""))))));
}

async function refreshLedger() {
  const box = document.getElementById("ledger");
  let view;
  try { view = await json("/ui/ledger"); } catch (error) { box.textContent = error.message; return; }
  const positions = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, t("participant")), el("th", {}, t("net")), el("th", {}, t("held")))),
    el("tbody", {}, ...view.positions.map((p) => el("tr", {}, el("td", { class: "mono" }, p.participant), el("td", { class: "mono" }, p.net), el("td", { class: "mono" }, p.held)))));
  const totals = el("p", { class: "muted" }, ...view.totals.map((total) =>
    el("span", { class: total.balanced ? "ok" : "bad" }, `${total.currency}: ${total.balanced ? "✓ " + t("balanced") : "✗ " + total.net_minor} `)));
  const active = view.accounts.filter((a) => a.held_minor !== 0 || a.kind !== "cardholder" || a.posted_minor !== 0);
  const accounts = el("div", { class: "feed-box" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, t("account")), el("th", {}, t("posted")), el("th", {}, t("held")))),
    el("tbody", {}, ...active.map((a) => el("tr", {}, el("td", { class: "mono" }, a.id), el("td", { class: "mono" }, a.posted), el("td", { class: "mono" }, a.held))))));
  box.replaceChildren(el("div", {}, positions, totals), accounts);
}

function scheduleLedger() {
  clearTimeout(state.ledgerTimer);
  state.ledgerTimer = setTimeout(refreshLedger, 400);
}

function connect() {
  const source = new EventSource("/ui/events");
  source.addEventListener("transaction", (event) => {
    const tx = JSON.parse(event.data);
    state.transactions.set(tx.id, tx);
    renderFeed();
    if (tx.id === state.selected) select(tx.id);
    scheduleLedger();
  });
  source.addEventListener("terminal", (event) => { const d = JSON.parse(event.data); state.terminals[d.tid] = d.status; renderTerminals(); });
  source.addEventListener("issuer", (event) => { const d = JSON.parse(event.data); state.issuers[d.issuer] = d.status; renderIssuers(); });
  source.addEventListener("switch", (event) => { setSwitch(JSON.parse(event.data).status); });
  source.addEventListener("open", () => document.body.dataset.live = "yes");
}

function setSwitch(status) {
  const pill = document.getElementById("switch-status");
  pill.textContent = status;
  pill.className = `pill ${statusClass(status)}`;
}

async function start() {
  const lang = document.getElementById("lang");
  lang.value = LANG;
  lang.addEventListener("change", () => { setLang(lang.value); renderTerminals(); renderIssuers(); renderLadder(); if (state.detail) showHop(state.hop ?? 0); refreshLedger(); });
  setLang(LANG);
  document.getElementById("show-network").addEventListener("change", renderFeed);
  document.getElementById("restart-switch").addEventListener("click", () => fault("switch", "", "restart"));
  document.getElementById("mermaid-button").addEventListener("click", async () => {
    const area = document.getElementById("mermaid");
    area.value = await json(`/ui/transactions/${encodeURIComponent(state.selected)}/mermaid`);
    area.hidden = false;
    area.select();
  });
  const snapshot = await json("/ui/state");
  Object.assign(state, { fleet: snapshot.fleet, terminals: snapshot.terminals, issuers: snapshot.issuers, issuerIds: snapshot.issuer_ids });
  snapshot.transactions.forEach((tx) => state.transactions.set(tx.id, tx));
  setSwitch(snapshot.switch);
  renderTerminals(); renderIssuers(); renderFeed(); refreshLedger();
  startBackOffice();
  connect();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("tx");
  if (wanted) select(wanted);
}

start();
