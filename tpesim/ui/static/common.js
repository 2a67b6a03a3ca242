// Shared by the dashboard and the virtual terminal: labels in three languages, amounts in a
// currency's decimals, JSON over fetch. Plain browser JavaScript, no build step.
"use strict";

const LABELS = {
  en: { terminals: "Terminals", issuers: "Issuers", feed: "Transactions", ladder: "Message ladder",
        fields: "Fields of the message", ledger: "Ledger and settlement position", switch: "Switch",
        restart: "Restart switch", unplug: "Unplug", plug: "Plug in", paperOut: "Paper out",
        paperIn: "Paper in", down: "Down", slow: "Slow", up: "Up", time: "Time", tid: "Terminal",
        what: "What", amount: "Amount", card: "Card", code: "Code", status: "Status",
        field: "Field", name: "Name", value: "Value", meaning: "Meaning", mermaid: "Mermaid export",
        network: "show sign-ons and echo tests", pick: "Pick a transaction in the feed.",
        pickHop: "Pick an arrow of the ladder to see its message.", participant: "Participant",
        net: "Net position", held: "Held", account: "Account", posted: "Posted",
        balanced: "positions sum to zero", terminalPage: "Virtual terminal", dashboard: "Dashboard",
        backOffice: "Issuer back office", unblock: "Unblock", block: "Block", balanceTo: "Balance",
        setBalance: "Set", badAmount: "Not an amount (e.g. 1500,00)",
        lanes: ["Terminal", "Broker", "Switch", "Issuer / STIP", "Ledger"] },
  fr: { terminals: "Terminaux", issuers: "Émetteurs", feed: "Transactions", ladder: "Échelle des messages",
        fields: "Champs du message", ledger: "Grand livre et position de règlement", switch: "Commutateur",
        restart: "Redémarrer le commutateur", unplug: "Débrancher", plug: "Brancher",
        paperOut: "Plus de papier", paperIn: "Papier", down: "Arrêt", slow: "Lent", up: "Marche",
        time: "Heure", tid: "Terminal", what: "Opération", amount: "Montant", card: "Carte", code: "Code",
        status: "État", field: "Champ", name: "Nom", value: "Valeur", meaning: "Signification",
        mermaid: "Export Mermaid", network: "afficher connexions et tests d'écho",
        pick: "Choisissez une transaction.", pickHop: "Choisissez une flèche pour voir son message.",
        participant: "Participant", net: "Position nette", held: "Bloqué", account: "Compte",
        posted: "Comptabilisé", balanced: "les positions s'annulent", terminalPage: "Terminal virtuel",
        dashboard: "Tableau de bord", backOffice: "Back-office de l'émetteur", unblock: "Débloquer",
        block: "Bloquer", balanceTo: "Solde", setBalance: "Fixer",
        badAmount: "Montant invalide (ex. 1500,00)",
        lanes: ["Terminal", "Courtier", "Commutateur", "Émetteur / STIP", "Grand livre"] },
  ar: { terminals: "الأجهزة", issuers: "جهات الإصدار", feed: "العمليات", ladder: "سلم الرسائل",
        fields: "حقول الرسالة", ledger: "الدفتر ووضعية التسوية", switch: "المحول",
        restart: "إعادة تشغيل المحول", unplug: "فصل", plug: "توصيل", paperOut: "نفاد الورق",
        paperIn: "ورق", down: "إيقاف", slow: "بطيء", up: "تشغيل", time: "الوقت", tid: "الجهاز",
        what: "العملية", amount: "المبلغ", card: "البطاقة", code: "الرمز", status: "الحالة",
        field: "الحقل", name: "الاسم", value: "القيمة", meaning: "المعنى", mermaid: "تصدير Mermaid",
        network: "عرض رسائل الشبكة", pick: "اختر عملية من القائمة.", pickHop: "اختر سهما لعرض رسالته.",
        participant: "المشارك", net: "الوضعية الصافية", held: "محجوز", account: "الحساب",
        posted: "مرحل", balanced: "مجموع الوضعيات صفر", terminalPage: "الجهاز الافتراضي",
        dashboard: "لوحة المتابعة", backOffice: "مكتب جهة الإصدار", unblock: "إلغاء الحظر",
        block: "حظر", balanceTo: "الرصيد", setBalance: "تحديد", badAmount: "مبلغ غير صالح (مثلا 1500,00)",
        lanes: ["الجهاز", "الوسيط", "المحول", "جهة الإصدار", "الدفتر"] },
};

let LANG = localStorage.getItem("tpesim-lang") || "fr";

function t(key) { return (LABELS[LANG] || LABELS.en)[key] || LABELS.en[key] || key; }

function setLang(lang) {
  LANG = lang;
  localStorage.setItem("tpesim-lang", lang);
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
}

// ``minor`` units of the currency ``code`` with ``exp`` decimals (the server says how many).
function money(minor, code, exp) {
  if (minor === null || minor === undefined) return "";
  const s = String(Math.abs(minor)).padStart(exp + 1, "0");
  const major = s.slice(0, s.length - exp).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
  const text = exp ? `${major},${s.slice(s.length - exp)}` : major;
  return `${minor < 0 ? "-" : ""}${text} ${code}`;
}

async function json(url, options) {
  const response = await fetch(url, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : JSON.stringify(body);
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}
