"""Carrying out one scenario step: a sale on a terminal, a fault on its link or on the terminal,
an issuer going down, the broker restarting, a status to wait for."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from cards.catalog import CardSet
from cards.currency import parse_amount
from cards.holders import holder_pin
from switch.ledger.postings import hold_id
from switch.ledger.rules import TransferKind
from switch.rules.issuers import IssuerState
from switch.security import SecurityModule
from terminal.builder import CardPresentation
from terminal.link import LinkFaults
from terminal.pinpad import PinPad
from terminal.records import TransactionOutcome
from terminal.shell.tpe import Terminal, TerminalError
from tpesim.scenario.model import Step
from tpesim.scenario.switches import SwitchHandle
from tpesim.scenario.trace import APPROVED, NOT_HELD, UNKNOWN
from tpesim.scenario.watch import StatusWatch
from tpesim.wallet import Wallet
from wire.clock import Clock, OffsetClock, SystemClock
from wire.magic import magic_amounts

__all__ = ["PowerOn", "Restart", "StepRunner", "link_counts"]

PowerOn = Callable[[Terminal], Awaitable[Terminal]]
"""Powers a terminal back on: a new one, with the old one's non-volatile memory."""

WRONG_PIN = "0000"
_TERMINAL_FAULTS = frozenset({"dukpt_exhausted", "rekey", "reader_fault", "reader_ok",
                              "reuse_stan", "power_loss", "floor_limit", "clock_skew"})  # fmt: skip

Restart = Callable[[bool], Awaitable[None]]
"""Restarts the scenario's broker: gracefully, or (True) after a kill -9."""


class StepRunner:
    """The state of one run: terminals, cards, the pre-authorizations by label."""

    def __init__(
        self,
        terminals: dict[str, Terminal],
        cards: CardSet,
        wallet: Wallet,
        security: SecurityModule,
        switch: SwitchHandle,
    ) -> None:
        self.switch: SwitchHandle = switch
        self.watch: StatusWatch | None = None
        self.restart: Restart | None = None
        self.power_on: PowerOn | None = None
        self.settle: Callable[[], Awaitable[tuple[str, str]]] | None = None
        """Settles every business day that is over (a ``settle`` step)."""
        self.db: Path | None = None
        """The ledger file (``database`` steps lock it)."""
        self.locks: list[asyncio.Task[None]] = []
        """Locks held on the ledger by ``database`` steps, released on their own."""
        self.clock: Clock = SystemClock()
        """The scenario's clock (simulated when the scenario has one)."""
        self.zone = ZoneInfo("UTC")
        """The time zone ``at: HH:MM`` is read in (the first terminal's)."""
        self.terminals = terminals
        self.cards = cards
        self.wallet = wallet
        self.security = security
        self.authorizations: dict[str, tuple[str, int]] = {}
        self.approved: dict[tuple[str, int], str] = {}
        """Hold ids of the approvals terminals saw, by (TID, STAN)."""
        self.reported: dict[str, str] = {}
        """What the terminals told of each request, by the hold id it would make: the
        receipt oracle's input (tpesim.scenario.trace.receipt_mismatches)."""
        self._claimed: set[str] = set()
        """Hold ids whose report came from a request the switch stored under that key."""
        self.tampered: set[str] = set()
        """Terminals whose next sale goes out with a broken MAC."""

    def amount(self, step: Step, tpe: Terminal) -> int:
        text = step.amount or "0"
        currency = tpe.profile.currency
        if text.startswith("magic:"):
            return magic_amounts().amount_for(text.removeprefix("magic:"), currency)
        return parse_amount(text, currency)

    async def _fault(self, tpe: Terminal, step: Step) -> None:
        """Inject (or clear) the fault ``step`` names on terminal ``tpe``."""
        if step.fault in ("paper_out", "paper_in"):
            await tpe.set_paper(step.fault == "paper_in")
        elif step.fault == "network_down":
            await tpe.cut_network()
        elif step.fault == "network_up":
            await tpe.restore_network()
        elif step.fault == "power_on" and self.power_on is not None and not tpe.powered:
            self.terminals[tpe.tid] = await self.power_on(tpe)
        elif step.fault == "tamper_mac":
            self.tampered.add(tpe.tid)
        elif step.fault in _TERMINAL_FAULTS:
            self._terminal_fault(tpe, step)
        else:
            _link_fault(tpe, step)

    def _terminal_fault(self, tpe: Terminal, step: Step) -> None:
        """A fault of the terminal itself (its PIN pad, reader, counters, clock, power)."""
        if step.fault == "dukpt_exhausted" and tpe.pinpad is not None:
            tpe.pinpad.exhaust()
        elif step.fault == "rekey":
            tpe.pinpad = PinPad(self.security.inject_terminal_key(tpe.tid))
        elif step.fault in ("reader_fault", "reader_ok"):
            tpe.chip_reader_fault = step.fault == "reader_fault"
        elif step.fault == "reuse_stan":
            tpe.reuse_key = True
        elif step.fault == "power_loss":
            tpe.power_fails = True
        elif step.fault == "floor_limit":
            tpe.offline_floor_limit = self.amount(step, tpe)
        elif step.fault == "clock_skew":
            tpe.clock = OffsetClock(self.clock, step.skew) if step.skew else self.clock

    async def _infrastructure(self, step: Step) -> tuple[str, str]:
        """An ``issuer``, ``broker`` or ``status`` step."""
        if step.action == "issuer":
            state = IssuerState(step.state or "up")
            verdict = await self.switch.set_issuer(step.issuer or "", state, step.seconds or 0.0)
            return verdict, ""
        if step.action == "broker" and self.restart is not None:
            mark = self.switch.mark()
            await self.restart(step.mode == "kill")
            await self.switch.serving_after(mark)  # the switch is back before any sale
            return "done", f"broker restarted ({step.mode})"
        assert self.watch is not None
        return await self.watch.wait_for(step.terminal or "", step.expect or "", 10.0), ""

    async def _resolve(self, step: Step, tpe: Terminal) -> str:
        """A ``complete`` or ``cancel`` of the pre-authorization labelled ``step.of``."""
        found = self.authorizations.get(step.of or "")
        if found is None:  # its pre-authorization never left the terminal
            raise TerminalError(f"no pre-authorization labelled {step.of!r} was made")
        tid, stan = found
        if step.action == "cancel":
            verdict = await self.terminals[tid].cancel_authorization(stan)
            hold = self.approved.pop((tid, stan), None)  # released on purpose
            if hold is not None:
                self.reported[hold] = NOT_HELD if verdict == "acknowledged" else UNKNOWN
            return verdict
        response = await self.terminals[tid].complete(stan, self.amount(step, tpe))
        return response.response_code if response else "timeout"

    async def do(self, step: Step) -> tuple[str, str]:
        """Run ``step``; (the verdict to compare with ``expect``, a detail for the report)."""
        if step.action in ("issuer", "broker", "status"):
            return await self._infrastructure(step)
        if step.action == "burst":
            return await self._burst(step)
        if step.action == "settle" and self.settle is not None:
            return await self.settle()
        if step.action == "database" and self.db is not None:
            return await self._lock_database(self.db, step.seconds or 0.0)
        tpe = self.terminals[step.terminal or ""]
        if step.action == "fault":
            await self._fault(tpe, step)
            return "done", f"fault {step.fault}"
        if step.action == "wait":
            await asyncio.sleep(step.seconds or 0.0)
            return f"late:{tpe.stats.late_responses}", ""
        if step.action == "reprint":
            return f"reprinted:{len(tpe.reprint())}", ""
        if step.action == "close_batch":
            batch = await tpe.close_batch()
            notes = [batch.additional_response or "", *(batch.differences or ())]
            return batch.response_code, "\n".join(note for note in notes if note)
        if step.action in ("complete", "cancel"):
            return await self._resolve(step, tpe), ""
        return await self._sale(step, tpe)

    async def _lock_database(self, db: Path, seconds: float) -> tuple[str, str]:
        """Another process takes the ledger's write lock (BEGIN EXCLUSIVE) and keeps it for
        ``seconds``; the step ends once the lock is held, the lock lasts into the next steps.
        The switch's writes wait for it (up to its busy timeout of 5 s, then 96)."""
        taken = threading.Event()

        def hold() -> None:
            connection = sqlite3.connect(db, timeout=30)
            try:
                connection.execute("BEGIN EXCLUSIVE")
                taken.set()
                time.sleep(seconds)  # the lock itself: this thread does nothing else
                connection.rollback()
            finally:
                connection.close()

        self.locks.append(asyncio.create_task(asyncio.to_thread(hold)))
        await asyncio.to_thread(taken.wait, 30)
        return "done", f"ledger locked for {seconds:g} s"

    async def _burst(self, step: Step) -> tuple[str, str]:
        """``count`` sales at once, spread over every terminal (each one at a time); with
        ``kill_switch_after``, the switch is killed -9 and started again once that many have
        ended. The verdict counts the outcomes."""
        outcomes: Counter[str] = Counter()
        tids = sorted(self.terminals)
        shares = [len(range(i, step.count, len(tids))) for i in range(len(tids))]
        killing: list[asyncio.Task[None]] = []

        async def work(tid: str, sales: int, card: str) -> None:
            sale = step.model_copy(update={"card": card})
            for _ in range(sales):
                try:
                    verdict, _ = await self._sale(sale, self.terminals[tid])
                except TerminalError:
                    verdict = "terminal-error"
                outcomes[verdict] += 1
                if step.kill_switch_after and sum(outcomes.values()) == step.kill_switch_after:
                    killing.append(asyncio.create_task(self.switch.kill_and_restart()))

        async with asyncio.TaskGroup() as group:
            for number, (tid, sales) in enumerate(zip(tids, shares, strict=True)):
                group.create_task(work(tid, sales, step.cards[number % len(step.cards)]))
        for task in killing:
            await task
        summary = ", ".join(f"{verdict} {n}" for verdict, n in sorted(outcomes.items()))
        return "done", summary + (" (switch killed -9 and restarted)" if killing else "")

    async def _sale(self, step: Step, tpe: Terminal) -> tuple[str, str]:
        """A purchase, pre-authorization or refund on ``tpe``; approvals are remembered for
        the lost-approval check."""
        card_id = step.card or ""
        card = CardPresentation.from_card(self.cards.card(card_id), self.cards)
        pin = WRONG_PIN if step.pin == "wrong" else step.pin or holder_pin(card_id)
        outcome = await tpe.purchase(
            card,
            self.amount(step, tpe),
            pin=pin,
            chip=self.wallet.chip(card_id),
            plastic=self.wallet.plastic(card_id),
            preauth=step.action == "preauth",
            refund=step.action == "refund",
            tamper_mac=tpe.tid in self.tampered,
        )
        self.tampered.discard(tpe.tid)
        if step.label is not None:
            self.authorizations[step.label] = (tpe.tid, outcome.stan)
        kind = {"preauth": TransferKind.PREAUTH, "refund": TransferKind.REFUND}.get(
            step.action, TransferKind.PURCHASE
        )
        hold = hold_id(kind, (tpe.tid, outcome.stan, outcome.transmission_time))
        if outcome.approved:
            self.approved[tpe.tid, outcome.stan] = hold
        self._report(hold, outcome)
        detail = f"stan {outcome.stan:06d}" + (
            f", reversal {outcome.reversal}" if outcome.reversal else ""
        )
        if step.printed is not None and step.printed != outcome.printed:
            printed = "printed" if outcome.printed else "not printed"
            return f"{outcome.verdict}, receipt {printed}", detail
        missing = [text for text in step.receipt if text not in outcome.receipt]
        if missing:
            return f"{outcome.verdict}, receipt without {missing[0]!r}", detail
        return outcome.verdict, detail

    def _report(self, hold: str, outcome: TransactionOutcome) -> None:
        """Remember what the terminal told of the request that would make ``hold``. A key
        reused by a slipped STAN belongs to the request the switch stored under it: an answer
        the switch never stores (63, 94, 96, 30) or an offline decline (Z3, never sent) does not
        claim the key, and gives way to, or leaves in place, the report of one that did."""
        code = outcome.response_code
        claims = code not in _UNSTORED
        if hold in self._claimed or (hold in self.reported and not claims):
            return
        if claims:
            self._claimed.add(hold)
        if code == "00":
            self.reported[hold] = APPROVED
        elif code is None:
            self.reported[hold] = NOT_HELD if outcome.reversal == "acknowledged" else UNKNOWN
        else:
            self.reported[hold] = UNKNOWN if code == "Y3" else NOT_HELD


_UNSTORED = frozenset({"30", "63", "94", "96", "Z3"})
"""Outcomes of a request the switch did not store under its key (or never saw)."""


def link_counts(tpe: Terminal) -> str:
    link = tpe.link
    return f"lost {link.lost}, duplicated {link.duplicated}, held {link.held}"


def _link_fault(tpe: Terminal, step: Step) -> None:
    """Set the link fault ``step`` names on ``tpe``'s link."""
    faults = tpe.link.faults
    if step.fault == "slow_link":
        faults.delay_s, faults.jitter_s = step.seconds or 0.0, step.jitter
    elif step.fault == "fast_link":
        faults.delay_s = faults.jitter_s = 0.0
    elif step.fault == "lossy_link":
        faults.loss = step.probability
    elif step.fault == "duplicate_delivery":
        faults.duplicate = step.probability
    elif step.fault == "duplicate_response":
        faults.duplicate_responses_s = step.seconds or 0.0
    elif step.fault == "drop_request":
        faults.drop_requests += step.count
    elif step.fault == "drop_response":
        faults.drop_responses += step.count
    elif step.fault == "hold_request":
        faults.hold_requests_s.append(step.seconds or 0.0)
    elif step.fault == "hold_response":
        faults.hold_responses_s.append(step.seconds or 0.0)
    elif step.fault == "restore_link":
        tpe.lose_reversals = False
        tpe.link.faults = LinkFaults()
    else:
        tpe.lose_reversals = step.fault == "lose_reversals"
