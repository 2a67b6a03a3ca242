"""Batch close (0500 → 0510): compare a terminal's totals with the ledger and explain.

The business day is the terminal's DE15 (MMDD), placed in the year of the switch's local date.
The answer is 00 when totals and items agree, 95 (out of balance) otherwise, with the switch's
own totals in DE74/76/86/88 and one explanation per difference in DE124. Either way the batch
is closed and recorded (``batch_closes``) in the same transaction as the stored answer.

A close covers what its terminal did that day since its previous close of the same day (by
the ledger's transfer order), so a second close reconciles only the new batch. The batch number
(DE60) makes a close idempotent: the same batch closed again (the same number, totals and
journal; a retry under a new STAN after a lost 0510, even past midnight) within a day gets the
first close's verdict, and nothing is recorded twice. The same number with another claim is a
new close (a terminal that lost its counter starts again at 1), reconciled as any other.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from datetime import date, datetime, time, timedelta

from cards.currency import currency_by_numeric
from switch.ledger.events import BatchClose
from switch.ledger.postings import MIDNIGHT, business_day
from switch.ledger.where import AnyLedger
from switch.rules.reconcile import LedgerItem, ledger_totals, reconcile
from wire.journal import JournalEntry, journal_totals
from wire.protocol.messages import BatchRequest, BatchResponse
from wire.protocol.responses import echo
from wire.registry import Registry

__all__ = ["batch_day", "close_batch"]

log = logging.getLogger("switch")


def batch_day(settlement_date: str, today: date) -> date:
    """The date DE15 (``MMDD``) names: this year's, or last year's if that would be after
    ``today`` by more than a day (a batch closed just after New Year)."""
    month, day = int(settlement_date[:2]), int(settlement_date[2:])
    for year in (today.year, today.year - 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= today + timedelta(days=1):
            return candidate
    raise ValueError(f"DE15 {settlement_date} is not a date")


async def close_batch(
    ledger: AnyLedger,
    request: BatchRequest,
    *,
    registry: Registry,
    now: datetime,
    cutoff: time = MIDNIGHT,
) -> tuple[BatchResponse, BatchClose | None]:
    """Reconcile ``request`` against the ledger; the 0510 and the row that records the close
    (None when the batch was closed before: nothing new to record)."""
    terminal = registry.get(request.terminal_id)
    cur = currency_by_numeric(request.currency)
    if terminal is None:
        return _refusal(request, "03", "unknown terminal")
    if cur is None:
        return _refusal(request, "30", "format error: DE49")
    today = business_day(terminal.merchant.country_info.timezone, now, cutoff)
    try:
        day = batch_day(request.settlement_date, today)
    except ValueError:
        return _refusal(request, "30", "format error: DE15")
    clock_off = day not in (today, today - timedelta(days=1))
    if clock_off:  # the terminal's clock is wrong: the switch's business day decides
        log.warning("%r: DE15 names %s, the switch's business day is %s", request, day, today)
        day = today
    claim = _claim_digest(request)
    if request.batch_number is not None:
        earlier = await ledger.numbered_close(
            request.terminal_id, request.batch_number, claim, since=day - timedelta(days=1)
        )
        if earlier is not None:
            return _again(request, day, earlier)
    covered = await ledger.batch_closed(request.terminal_id, day)
    entries = [JournalEntry.parse(line) for line in request.journal]
    rows = await ledger.batch_items(request.terminal_id, day, covered)
    items = [LedgerItem(*row[:4]) for row in rows]
    last_seq = max((row[4] for row in rows), default=covered)
    ours, theirs = ledger_totals(items), journal_totals(entries)
    claimed = (request.sales, request.sales_amount, request.refunds, request.refunds_amount)
    differences = reconcile(entries, items, cur)
    if claimed != (theirs.sales, theirs.sales_amount, theirs.refunds, theirs.refunds_amount):
        differences.insert(0, "the totals in DE74/76/86/88 do not add up to the journal in DE124")
    if not differences and claimed != (
        ours.sales,
        ours.sales_amount,
        ours.refunds,
        ours.refunds_amount,
    ):
        differences.append("the totals differ from the ledger's, with no journal to explain")
    balanced = not differences
    response = BatchResponse(
        **echo(request),
        response_code="00" if balanced else "95",
        additional_response=("in balance" if balanced else "out of balance")
        + (", clock off" if clock_off else ""),
        sales=ours.sales,
        sales_amount=ours.sales_amount,
        refunds=ours.refunds,
        refunds_amount=ours.refunds_amount,
        differences=tuple(differences) or None,
    )
    log.info(
        "%r batch %s: %s (%d difference(s))",
        request,
        day,
        "in balance" if balanced else "out of balance",
        len(differences),
    )
    return response, _row(
        request,
        day,
        balanced,
        terminal=asdict(theirs),
        ledger=asdict(ours),
        differences=differences,
        last_seq=last_seq,
        claim=claim,
    )


def _claim_digest(request: BatchRequest) -> str:
    """What the terminal claims of its batch (number, totals, journal), as a digest; not its
    DE15, which a close sent again after midnight names anew."""
    claimed = {"batch_number", "sales", "sales_amount", "refunds", "refunds_amount", "journal",
               "currency"}  # fmt: skip
    claim = request.model_dump(include=claimed, mode="json")
    return hashlib.sha256(json.dumps(claim, sort_keys=True).encode()).hexdigest()


def _again(
    request: BatchRequest, day: date, earlier: tuple[bool, str, str]
) -> tuple[BatchResponse, BatchClose | None]:
    """The answer to a batch closed before (the same number and claim): its verdict again,
    nothing recorded. ``earlier``: what the ledger recorded of the first close
    (switch.ledger.reads.LedgerReads.numbered_close)."""
    balanced, ours, differences = earlier
    totals = json.loads(ours)
    explained = tuple(json.loads(differences))
    log.info("%r: batch %d closed again (%s): same verdict", request, request.batch_number, day)
    return BatchResponse(
        **echo(request),
        response_code="00" if balanced else "95",
        additional_response=f"again: {'in balance' if balanced else 'out of balance'}",
        sales=totals.get("sales", 0),
        sales_amount=totals.get("sales_amount", 0),
        refunds=totals.get("refunds", 0),
        refunds_amount=totals.get("refunds_amount", 0),
        differences=explained or None,
    ), None


def _refusal(request: BatchRequest, code: str, note: str) -> tuple[BatchResponse, BatchClose]:
    response = BatchResponse(**echo(request), response_code=code, additional_response=note)
    return response, _row(request, None, False, terminal={}, ledger={}, differences=[note],
                          last_seq=0, claim="")  # fmt: skip


def _row(
    request: BatchRequest,
    day: date | None,
    balanced: bool,
    *,
    terminal: dict[str, int],
    ledger: dict[str, int],
    differences: list[str],
    last_seq: int,
    claim: str,
) -> BatchClose:
    return (
        request.terminal_id,
        day.isoformat() if day else request.settlement_date,
        request.stan,
        int(balanced),
        json.dumps(terminal),
        json.dumps(ledger),
        json.dumps(differences, ensure_ascii=False),
        request.batch_number if day else None,
        last_seq,
        claim,
    )
