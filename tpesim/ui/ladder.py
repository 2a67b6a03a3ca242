"""Trace events grouped into transactions, and each transaction drawn as a message ladder.

A transaction is everything about one request: the request, its answer, and the messages that
refer to it (a reversal or completion names its original in DE90), keyed like a payment of the
merchant API: ``{tid}-{stan:06d}-{DE7}``. Its ladder is a list of arrows between five lanes —
terminal, broker, switch, issuer (or the switch standing in for it) and ledger — in the order
they happened, with timeouts, losses and late answers drawn where they occurred. Pure: the
dashboard's hub feeds it events as they arrive.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from cards.currency import currency_by_numeric, format_money
from tpesim.api.models import payment_status
from wire.protocol.codec import Encoding
from wire.protocol.explain import mti_meaning
from wire.protocol.trace import TraceEvent

__all__ = ["LANES", "Arrow", "Transaction", "TransactionBook", "mermaid"]

LANES = ("terminal", "broker", "switch", "issuer", "ledger")
NETWORK_MTIS = frozenset({"0800", "0810"})


@dataclass(frozen=True, slots=True)
class Arrow:
    """One hop of the ladder: ``source`` → ``target`` lanes (the same lane: a note on it)."""

    at: str
    source: str
    target: str
    label: str
    mti: str | None
    kind: str
    """The trace event behind it: sent, received, answered, timeout, late, lost, or
    ``route`` / ``ledger`` for what the switch did while answering."""
    event: int
    """Index of the trace event in the transaction (whose message the arrow carries)."""


@dataclass
class Transaction:
    """One request and everything about it, in arrival order."""

    id: str
    tid: str
    events: list[TraceEvent] = field(default_factory=list)

    @property
    def first(self) -> TraceEvent:
        return min(self.events, key=lambda e: e.at)

    @property
    def network(self) -> bool:
        return self.first.mti in NETWORK_MTIS

    def summary(self) -> dict[str, Any]:
        """What the feed shows: when, which terminal, what, how much, and how it ended."""
        first = self.first
        message = first.message
        amount = int(message["4"]) if str(message.get("4", "")).isdigit() else None
        currency = currency_by_numeric(str(message.get("49", "")))
        shown = format_money(amount, currency.code) if amount is not None and currency else None
        return {
            "id": self.id,
            "tid": self.tid,
            "at": first.at.isoformat(),
            "mti": first.mti,
            "what": mti_meaning(first.mti or "").en if first.mti else "message",
            "processing": message.get("3"),
            "amount_minor": amount,
            "currency": message.get("49"),
            "amount": shown,
            "pan": message.get("2"),
            "response_code": self.response_code,
            "status": self.status,
            "network": self.network,
            "hops": len(self.events),
        }

    @property
    def response_code(self) -> str | None:
        """The answer to the original request, as the terminal (else the switch) saw it."""
        answers = [e for e in self.events if e.response_code and e.mti == _answer_mti(self)]
        at_terminal = [e for e in answers if e.hop == "terminal" and e.event == "received"]
        chosen = at_terminal or [e for e in answers if e.hop == "switch"]
        return chosen[-1].response_code if chosen else None

    @property
    def status(self) -> str:
        """A payment's status (``payment_status``: approved, declined, approved_offline...),
        or timeout (no answer reached the terminal), reversed, or pending."""
        if any(e.mti in ("0400", "0420", "0421") and e.hop == "terminal" for e in self.events):
            return "reversed"
        answered = any(e.hop == "terminal" and e.event == "received" for e in self.events)
        if not answered and any(e.event == "timeout" for e in self.events):
            return "timeout"
        code = self.response_code
        return "pending" if code is None else payment_status(code)

    def ladder(self) -> list[Arrow]:
        """The transaction's arrows, in time order (each hop's own clock)."""
        arrows: list[Arrow] = []
        order = sorted(range(len(self.events)), key=lambda i: self.events[i].at)
        for index in order:
            arrows += _arrows(self.events[index], index)
        return arrows


def _answer_mti(transaction: Transaction) -> str | None:
    mti = transaction.first.mti
    if mti == "QR":  # a wallet's QR payment: its answer is traced under the same name
        return mti
    if mti is None or len(mti) != 4 or not mti.isdigit():
        return None
    return mti[:2] + str(int(mti[2]) + 1) + mti[3]


def _arrows(event: TraceEvent, index: int) -> list[Arrow]:
    at = event.at.isoformat()
    mti = event.mti
    name = f"{mti} {mti_meaning(mti).en}" if mti else "message"
    if event.encoding is Encoding.ISO8583:
        name += f" [ISO 8583, {event.wire_bytes} bytes]"
    code = f" → {event.response_code}" if event.response_code else ""

    def arrow(source: str, target: str, label: str, kind: str = event.event) -> Arrow:
        return Arrow(at, source, target, label, mti, kind, index)

    if event.hop == "terminal":
        match event.event:
            case "sent":
                return [arrow("terminal", "broker", name)]
            case "received":
                return [arrow("broker", "terminal", name + code)]
            case "late":
                return [arrow("broker", "terminal", f"{name}{code}, too late: ignored")]
            case "stray":
                return [
                    arrow("broker", "terminal", f"{name}{code}, answers another request: ignored")
                ]
            case "lost":
                return [arrow("broker", "terminal", f"{name}{code}, lost on the link")]
            case _:
                return [arrow("terminal", "terminal", "; ".join(event.notes) or event.event)]
    if event.event == "received":
        return [arrow("broker", "switch", name)]
    arrows = []
    if event.route:
        who, _, issuer = event.route.partition(":")
        asked = "stand-in (STIP) for " if who == "stand-in" else "authorize at "
        arrows.append(arrow("switch", "issuer", f"{asked}{issuer}", "route"))
        arrows.append(arrow("issuer", "switch", f"{event.response_code} {event.reason or ''}"
                            .strip(), "route"))  # fmt: skip
    arrows += [arrow("switch", "ledger", note, "ledger") for note in event.notes
               if "→" in note]  # fmt: skip
    if event.event == "lost":
        arrows.append(arrow("switch", "switch", f"{name}{code} not sent (forced silence)"))
    else:
        arrows.append(arrow("switch", "broker", name + code))
    return arrows


def _transaction_key(event: TraceEvent) -> tuple[str, str | None]:
    """(this message's own key, the key of the original it refers to, if any)."""
    message = event.message
    own = f"{event.tid}-{event.stan or 0:06d}-{message.get('7', '')}"
    original = message.get("90")
    if isinstance(original, str) and len(original) >= 20 and original[:20].isdigit():
        return own, f"{event.tid}-{original[4:10]}-{original[10:20]}"
    return own, None


class TransactionBook:
    """The most recent ``capacity`` transactions, built from trace events as they come."""

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self._transactions: OrderedDict[str, Transaction] = OrderedDict()
        self._aliases: dict[str, str] = {}

    def add(self, event: TraceEvent) -> Transaction:
        """File ``event`` under its transaction (a new one, if it starts one)."""
        own, original = _transaction_key(event)
        if original is not None:
            self._aliases[own] = original
        key = self._aliases.get(own, own)
        transaction = self._transactions.get(key)
        if transaction is None:
            transaction = self._transactions[key] = Transaction(key, event.tid)
            while len(self._transactions) > self.capacity:
                dropped, _ = self._transactions.popitem(last=False)
                self._aliases = {k: v for k, v in self._aliases.items() if v != dropped}
        transaction.events.append(event)
        return transaction

    def get(self, transaction_id: str) -> Transaction | None:
        return self._transactions.get(transaction_id)

    def recent(self, limit: int = 100, *, network: bool = False) -> list[Transaction]:
        """The latest ``limit`` transactions, newest first (echo tests and sign-ons only when
        ``network``)."""
        chosen = [t for t in reversed(self._transactions.values()) if network or not t.network]
        return chosen[:limit]


_MERMAID_LANES = {"terminal": "T", "broker": "B", "switch": "S", "issuer": "I", "ledger": "L"}


def mermaid(transaction: Transaction) -> str:
    """The transaction as a Mermaid sequence diagram, for slides."""
    lines = [
        "sequenceDiagram",
        f"    participant T as Terminal {transaction.tid}",
        "    participant B as Broker (MQTT)",
        "    participant S as Switch",
        "    participant I as Issuer / STIP",
        "    participant L as Ledger",
    ]
    for arrow in transaction.ladder():
        source, target = _MERMAID_LANES[arrow.source], _MERMAID_LANES[arrow.target]
        label = arrow.label.replace(";", ",").replace("#", "")
        if source == target:
            lines.append(f"    Note over {source}: {label}")
        else:
            line = "-x" if arrow.kind == "lost" else "->>"
            lines.append(f"    {source}{line}{target}: {label}")
    return "\n".join(lines) + "\n"
