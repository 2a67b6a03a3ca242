"""Run a traffic plan over a fleet of connected terminals.

Each terminal works through its own purchases in plan order, one at a time. Purchases on the
same cardholder account also run in plan order (a purchase waits for the account's previous
one), so balances and daily limits evolve identically on every run with the same seed, however
the network interleaves terminals. No deadlock: the earliest unfinished purchase of the plan
never waits on anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from cards.catalog import CardSet
from switch.security import SecurityModule, load_keys
from terminal.builder import CardPresentation
from terminal.pinpad import PinPad
from terminal.shell.tpe import NonVolatileMemory, Terminal, TransactionOutcome
from terminal.traffic import PlannedPurchase
from tpesim.wallet import Wallet
from wire.clock import Clock
from wire.registry import TerminalProfile
from wire.sealing import DukptFlavour
from wire.transport.base import BrokerUrl

__all__ = ["FleetRun", "connected_fleet", "run_plan", "run_purchase"]

Progress = Callable[[int, TransactionOutcome], None]


@dataclass
class FleetRun:
    """The outcomes of a plan, in plan order."""

    outcomes: list[TransactionOutcome]


@contextlib.asynccontextmanager
async def connected_fleet(
    profiles: list[TerminalProfile],
    broker: BrokerUrl,
    *,
    clock: Clock,
    timeout_s: float,
    key_injection: SecurityModule | None = None,
    dukpt: DukptFlavour = "aes",
    stans: dict[str, int] | None = None,
    memory: NonVolatileMemory | None = None,
    seed: int | str = 0,
    signed_on: dict[str, Terminal] | None = None,
) -> AsyncIterator[dict[str, Terminal]]:
    """Key (DUKPT initial key from ``key_injection``, by default the shipped key store),
    connect and sign on every terminal concurrently; disconnect them all on exit.

    ``stans`` gives each TID's first STAN and receives the next one back on exit (a TPE's
    counter survives power cycles). ``memory`` keeps each terminal's request in flight, so
    that one restarted after a power loss reverses it. ``seed`` seeds the terminals' link
    faults. ``signed_on`` receives each terminal as soon as it has signed on, before the
    others have (operator controls can reach it from then on).
    """
    kif = key_injection or SecurityModule(load_keys())
    async with contextlib.AsyncExitStack() as stack:
        terminals = [
            Terminal(
                p,
                broker,
                clock=clock,
                timeout_s=timeout_s,
                pinpad=PinPad(kif.inject_terminal_key(p.tid, dukpt)),
                first_stan=(stans or {}).get(p.tid, 1),
                memory=memory,
                seed=seed,
            )
            for p in profiles
        ]

        async def connect(terminal: Terminal) -> None:
            await stack.enter_async_context(terminal)
            if signed_on is not None:
                signed_on[terminal.tid] = terminal

        async with asyncio.TaskGroup() as group:
            for terminal in terminals:
                group.create_task(connect(terminal), name=f"connect-{terminal.tid}")
        try:
            yield {t.tid: t for t in terminals}
        finally:
            if stans is not None:
                stans.update({t.tid: t.builder.upcoming_stan for t in terminals})


async def run_purchase(
    terminal: Terminal, item: PlannedPurchase, cards: CardSet, wallet: Wallet
) -> TransactionOutcome:
    """Run one planned purchase on ``terminal``, with the chip (or its clone), PIN, entry mode
    and tampering the plan says."""
    card = CardPresentation.from_card(cards.card(item.card_id), cards)
    async with wallet.in_reader(item.card_id):
        return await terminal.purchase(
            card,
            item.amount,
            pin=item.pin,
            chip=wallet.clone(item.card_id)
            if item.intent == "cloned-card"
            else wallet.chip(item.card_id),
            entry=item.entry,
            # Track 2 and CVV2 cost two CVV computations; only stripe and keyed read them.
            plastic=wallet.plastic(item.card_id) if item.entry != "chip" else None,
            tamper_mac=item.intent == "tampered-mac",
        )


async def run_plan(
    plan: list[PlannedPurchase],
    terminals: dict[str, Terminal],
    cards: CardSet,
    *,
    progress: Progress | None = None,
    wallet: Wallet | None = None,
) -> FleetRun:
    """Run every planned purchase (chip + PIN) and return the outcomes in plan order.

    ``wallet`` holds the cards' chips (default: chips personalized with the shipped keys).
    """
    wallet = wallet or Wallet(cards, SecurityModule(load_keys()))
    done = [asyncio.Event() for _ in plan]
    after: list[int | None] = []
    last_on_account: dict[str, int] = {}
    for item in plan:
        account = cards.card(item.card_id).account
        after.append(last_on_account.get(account))
        last_on_account[account] = item.index
    queues: dict[str, list[PlannedPurchase]] = {tid: [] for tid in terminals}
    for item in plan:
        queues[item.tid].append(item)
    outcomes: list[TransactionOutcome | None] = [None] * len(plan)
    finished = 0

    async def work(terminal: Terminal, items: list[PlannedPurchase]) -> None:
        nonlocal finished
        for item in items:
            previous = after[item.index]
            if previous is not None:
                await done[previous].wait()
            outcome = await run_purchase(terminal, item, cards, wallet)
            outcomes[item.index] = outcome
            done[item.index].set()
            finished += 1
            if progress is not None:
                progress(finished, outcome)

    async with asyncio.TaskGroup() as group:
        for tid, items in queues.items():
            group.create_task(work(terminals[tid], items), name=f"traffic-{tid}")
    return FleetRun([o for o in outcomes if o is not None])
