"""Human-readable output of the CLI: progress line, summary table, card list."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

from cards.catalog import CardSet
from cards.currency import currency, format_amount, format_money
from terminal.shell.tpe import TransactionOutcome
from tpesim.demo import DemoResult
from wire.protocol.codes import describe
from wire.protocol.wallet import QrPaymentResult

__all__ = ["ProgressLine", "render_cards", "render_summary"]


class ProgressLine:
    """``[#####.....] 150/300  00:120 51:9 …`` on stderr, redrawn in place on a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.counts: Counter[str] = Counter()
        self.tty = self.stream.isatty()
        self._last_decile = -1

    def __call__(self, finished: int, outcome: TransactionOutcome) -> None:
        self.counts[outcome.verdict] += 1
        decile = finished * 10 // self.total
        if not self.tty and decile == self._last_decile and finished != self.total:
            return
        self._last_decile = decile
        filled = finished * 20 // self.total
        codes = " ".join(f"{code}:{n}" for code, n in sorted(self.counts.items()))
        line = f"[{'#' * filled}{'.' * (20 - filled)}] {finished}/{self.total}  {codes}"
        end = "\n" if finished == self.total or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


def render_summary(result: DemoResult) -> str:
    """The table printed at the end of ``tpesim demo``."""
    lines = [
        "",
        f"{'Response':<9} {'Count':>6}  Meaning",
        f"{'-' * 9} {'-' * 6}  {'-' * 52}",
    ]
    for code, count in sorted(result.responses.items()):
        info = describe(code)
        lines.append(f"{code:<9} {count:>6}  {info.en} / {info.fr}")
    if result.timeouts:
        unresolved = result.unresolved_reversals
        note = "reversed with 0400" + (f", {unresolved} unresolved" if unresolved else "")
        lines.append(f"{'timeout':<9} {result.timeouts:>6}  no response in time: {note}")
    report = result.ledger
    stats = result.switch_stats
    verdict = "check passed" if report.ok else "CHECK FAILED"
    rate = len(result.outcomes) / result.elapsed_s if result.elapsed_s else 0.0
    lines += [
        "",
        f"Ledger:  {'balanced' if report.balanced else 'NOT BALANCED'}, "
        f"{report.postings} postings ({report.approvals} approvals, {report.reversals} "
        f"reversed, {report.holds_pending} holds awaiting clearing), "
        f"{len(report.results)} invariants - {verdict}",
    ]
    lines += [f"         {problem}" for problem in report.problems]
    batches = result.batch_summary()
    lines.append(
        f"Batches: {batches['closed']} closed with 0500, {batches['in_balance']} in balance"
        + (
            f", {len(batches['out_of_balance'])} OUT OF BALANCE"
            if batches["out_of_balance"]
            else ""
        )
    )
    for tid, differences in batches["out_of_balance"].items():
        lines += [f"         {tid}: {difference}" for difference in differences]
    if result.qr:
        shown = ", ".join(_qr_line(r) for r in result.qr)
        lines.append(f"QR:      BaridiPay-style, from wallet {result.qr[0].wallet}: {shown}")
    if result.abroad:
        shop = result.abroad[0].tid
        shown = ", ".join(_abroad_line(o) for o in result.abroad)
        lines.append(f"Abroad:  {result.abroad_card} at the web shop {shop}: {shown}")
    lines += [
        f"Switch:  {sum(stats.requests.values())} requests, {stats.duplicates} duplicates, "
        f"{stats.format_errors} format errors, {stats.attacks['mac']} MAC failures, "
        f"{result.late_responses} late responses",
        f"Run:     {len(result.outcomes)} purchases in {result.elapsed_s:.1f} s "
        f"({rate:.0f}/s), seed {result.config.seed}, broker {result.broker_kind} "
        f"{result.broker_url}",
        f"Files:   {result.workdir} (ledger.db, receipts/, outcomes.jsonl, traces.jsonl, "
        "tpesim.log)",
        "Day's end: tpesim settle --db "
        f"{result.workdir / 'ledger.db'}"
        + (f" --date {result.business_day}" if result.business_day else ""),
    ]
    return "\n".join(lines)


def _qr_line(result: QrPaymentResult) -> str:
    """``00 paid 1 500,00 DZD`` or ``13 below minimum amount``."""
    amount = ""
    if result.paid and result.amount is not None and result.currency:
        amount = f" {format_money(result.amount, result.currency)}"
    return f"{result.response_code} {result.reason}{amount}"


def _abroad_line(outcome: TransactionOutcome) -> str:
    """``00 19,99 EUR = 216,89 MAD`` or ``61 2 865,07 EUR (over FX allowance)``."""
    paid = format_money(outcome.amount, outcome.currency)
    if outcome.approved and outcome.billed is not None and outcome.card_currency:
        return f"00 {paid} = {format_money(outcome.billed, outcome.card_currency)}"
    return f"{outcome.verdict} {paid} ({outcome.reason or 'no reason given'})"


def render_cards(cards: CardSet) -> str:
    """The card set as a table. Test-card PANs are printed whole: integrators type them in."""
    lines = [f"{'Card':<20} {'PAN':<20} {'Product':<14} {'Expiry':<8} {'Status':<20} Balance"]
    for card in cards.cards:
        account = cards.accounts[card.account]
        balance = format_amount(account.balance, currency(account.currency))
        lines.append(
            f"{card.id:<20} {card.pan:<20} {card.product:<14} {card.expiry:<8} "
            f"{card.status.value:<20} {balance}"
        )
    return "\n".join(lines)
