"""Run a scenario: a broker, the switch and the scenario's terminals, its steps in order, then
the invariant checker and (if asked) the day's settlement."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

from cards.catalog import CardSet, default_card_set
from cards.currency import currency, format_amount, parse_amount
from switch.ledger.checker.check import LedgerReport, check_ledger
from switch.ledger.postings import MIDNIGHT, business_day
from switch.security import SecurityModule, load_keys
from switch.startup import running_switch
from terminal.records import InProcessMemory, PowerLostError
from terminal.shell.tpe import Terminal, TerminalError
from tpesim.broker.launcher import given_or_running_broker
from tpesim.broker.launcher import restart_broker as restart_mosquitto
from tpesim.fleet import connected_fleet
from tpesim.scenario.model import Scenario, ScenarioError, Step, moment
from tpesim.scenario.steps import PowerOn, Restart, StepRunner, link_counts
from tpesim.scenario.switches import InProcessSwitch, SwitchHandle, switch_process
from tpesim.scenario.trace import (
    available_balances,
    business_days,
    ledger_summary,
    receipt_mismatches,
    transfer_counts,
    unheld,
)
from tpesim.scenario.watch import StatusWatch, watching
from tpesim.settle import SettlementResult, run_settlement
from tpesim.wallet import Wallet
from wire.clock import Clock, ScaledClock, SystemClock
from wire.magic import magic_amounts
from wire.registry import Registry, TerminalProfile, default_registry
from wire.transport.base import BrokerUrl

__all__ = ["ScenarioResult", "StepResult", "run_scenario"]


@dataclass(frozen=True)
class StepResult:
    """What one step gave: its verdict against the expectation."""

    number: int
    step: Step
    actual: str
    passed: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ScenarioResult:
    """A scenario's run: every step, the ledger check and the settlement."""

    scenario: Scenario
    steps: list[StepResult] = field(default_factory=list)
    ledger: LedgerReport | None = None
    settlements: list[SettlementResult] = field(default_factory=list)
    """One settlement run per business day that has anything to settle, oldest first."""
    elapsed_s: float = 0.0
    workdir: Path | None = None
    seed: int = 0
    links: dict[str, str] = field(default_factory=dict)
    """Per terminal: what its link did (messages lost, duplicated, held back)."""
    postings: list[str] = field(default_factory=list)
    """The ledger's transfers counted and summed by kind and phase (see ledger_summary)."""
    ledger_checks: list[tuple[str, bool, str]] = field(default_factory=list)
    """The scenario's ``transfers`` and ``balances`` expectations, checked."""
    approvals: int = 0
    """Approvals the terminals saw (pre-authorizations they cancelled themselves left out)."""
    lost_approvals: list[str] = field(default_factory=list)
    """The holds of approvals a terminal saw that the ledger does not hold (must be none)."""
    receipt_mismatches: list[str] = field(default_factory=list)
    """Where what the terminals told (declined, reversed) and the ledger's holds disagree, the
    other way round from ``lost_approvals`` (must be none)."""

    @property
    def checks(self) -> list[tuple[str, bool, str]]:
        """The end-of-run checks: (name, passed, detail)."""
        found: list[tuple[str, bool, str]] = []
        if self.ledger is not None and self.scenario.ledger_ok:
            found.append(("ledger invariants", self.ledger.ok, "\n".join(self.ledger.problems)))
        if self.ledger is not None:
            found.append(("every approval is held", not self.lost_approvals,
                          f"{len(self.lost_approvals)} of {self.approvals} approvals not held: "
                          + ", ".join(self.lost_approvals[:5])))  # fmt: skip
            found.append(("receipts match the ledger", not self.receipt_mismatches,
                          "; ".join(self.receipt_mismatches[:5])))  # fmt: skip
        found += self.ledger_checks
        if self.scenario.settle:
            sums: dict[str, int] = {}
            for settled in self.settlements:
                for (_, code), value in settled.plan.positions.items() if settled.plan else ():
                    sums[code] = sums.get(code, 0) + value
            ok = not any(sums.values()) and all(s.check.ok for s in self.settlements)
            days = ", ".join(str(s.plan.day) for s in self.settlements if s.plan)
            detail = f"days {days}; sums by currency: {sums}" if days else "nothing to settle"
            found.append(("settlement nets to zero", ok, detail))
        return found

    @property
    def trace_digest(self) -> str:
        """SHA-256 over the trace: the seed, what every step gave, what each link did, the
        ledger's transfers by kind and phase, and each check's verdict. Two runs of the same
        scenario and seed give the same digest (STANs, times and keys are left out)."""
        lines = [f"seed {self.seed}"]
        lines += [f"{s.number} {s.step.describe()} {s.actual}" for s in self.steps]
        lines += [f"link {tid}: {counts}" for tid, counts in self.links.items()]
        lines += self.postings
        lines += [f"{name} {ok}" for name, ok, _ in self.checks]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps) and all(ok for _, ok, _ in self.checks)


def _ledger_expectations(
    scenario: Scenario, db: Path, cards: CardSet
) -> list[tuple[str, bool, str]]:
    """The scenario's ``transfers`` and ``balances`` against the ledger: (name, ok, detail)."""
    found = []
    counts = transfer_counts(db)
    for name, wanted in sorted(scenario.transfers.items()):
        got = counts.get(name, 0)
        found.append((f"ledger {name} transfers", got == wanted, f"expected {wanted}, got {got}"))
    balances = available_balances(db)
    for name, text in sorted(scenario.balances.items()):
        account = _account_of(name, cards)
        if account not in balances:
            found.append((f"balance of {name}", False, f"no account {account} in the ledger"))
            continue
        got, code = balances[account]
        wanted = parse_amount(text, currency(code))
        detail = f"expected {format_amount(wanted, currency(code))}, " \
                 f"got {format_amount(got, currency(code))}"  # fmt: skip
        found.append((f"balance of {name}", got == wanted, detail))
    return found


def _account_of(name: str, cards: CardSet) -> str:
    """The account a ``balances`` entry names: a card's account, or an account id itself."""
    try:
        return cards.card(name).account
    except KeyError:
        return name


def _check_balances(scenario: Scenario, cards: CardSet) -> None:
    """ScenarioError unless every expected balance is an amount of its account's currency
    (the balances of accounts outside the card set are checked at the end)."""
    for name, text in scenario.balances.items():
        account = cards.accounts.get(_account_of(name, cards))
        if account is None:
            continue
        try:
            parse_amount(text, currency(account.currency))
        except ValueError as error:
            raise ScenarioError(f"scenario {scenario.name!r}: balance of {name}: {error}") from None


def _judge(number: int, step: Step, actual: str, detail: str, seconds: float) -> StepResult:
    passed = step.expect is None or step.expect == actual
    missing = [text for text in step.explains if text not in detail]
    if missing:
        passed = False
        detail += f"\nmissing explanation: {', '.join(missing)}"
    return StepResult(number, step, actual, passed, detail.strip(), seconds)


@contextlib.asynccontextmanager
async def _broker(
    url: BrokerUrl | None, workdir: Path, restart: Restart | None
) -> AsyncIterator[tuple[BrokerUrl, Restart | None]]:
    async with given_or_running_broker(url, workdir) as handle:

        async def again(kill: bool) -> None:
            await restart_mosquitto(handle, kill=kill)

        own = again if handle.kind == "mosquitto" else None
        yield handle.url, restart if handle.kind == "external" else own


@contextlib.asynccontextmanager
async def _switch(
    scenario: Scenario,
    url: BrokerUrl,
    db: Path,
    watch: StatusWatch,
    *,
    cards: CardSet,
    registry: Registry,
    security: SecurityModule,
    clock: Clock,
    cutoff: time_of_day,
) -> AsyncIterator[SwitchHandle]:
    """The switch in this process, or, for a scenario that kills it, a child process (with the
    shipped card set and registry, whose keys the terminals are given)."""
    if any(step.kill_switch_after for step in scenario.steps):
        if any(step.action == "issuer" for step in scenario.steps) or scenario.clock \
                or scenario.cutoff:  # fmt: skip
            raise ScenarioError(f"scenario {scenario.name!r}: issuer steps, a simulated clock and "
                                "a cut-off need the switch in this process, and killing it needs "
                                "a child process")  # fmt: skip
        async with switch_process(url, db, db.with_name("switch.log"), watch) as child:
            yield child
        return
    async with running_switch(
        broker=url, db_path=db, cards=cards, registry=registry, magic=magic_amounts(),
        security=security, client_id=f"tpesim-scenario-{id(scenario):x}", persistent=False,
        clock=clock, cutoff=cutoff,
    ) as service:  # fmt: skip
        yield InProcessSwitch(service)


def _profiles(scenario: Scenario, cards: CardSet, registry: Registry) -> list[TerminalProfile]:
    """The scenario's terminals; ScenarioError for an unknown terminal, card or balance."""
    profiles = []
    for tid in scenario.terminals:
        profile = registry.get(tid)
        if profile is None:
            raise ScenarioError(f"scenario {scenario.name!r}: no terminal {tid} in the registry")
        profiles.append(profile)
    known = {card.id for card in cards.cards}
    named = {s.card for s in scenario.steps if s.card} | {
        c for s in scenario.steps for c in s.cards
    }
    unknown = sorted(named - known)
    if unknown:
        raise ScenarioError(f"scenario {scenario.name!r}: no such card: {', '.join(unknown)}")
    _check_balances(scenario, cards)
    _check_amounts(scenario, {p.tid: p for p in profiles})
    return profiles


def _check_amounts(scenario: Scenario, profiles: dict[str, TerminalProfile]) -> None:
    """ScenarioError unless every step's amount is one of its terminal's currency (decimals,
    size): found before anything runs, not halfway through."""
    for number, step in enumerate(scenario.steps, 1):
        if not step.amount or step.amount.startswith("magic:"):
            continue
        takers = [profiles[step.terminal]] if step.terminal in profiles else profiles.values()
        for profile in takers:  # a burst's amount goes to every terminal
            try:
                parse_amount(step.amount, profile.currency)
            except ValueError as error:
                raise ScenarioError(f"scenario {scenario.name!r}, step {number}: "
                                    f"{error}") from None  # fmt: skip


def _powering_on(
    url: BrokerUrl, memory: InProcessMemory, seed: int, stack: contextlib.AsyncExitStack
) -> PowerOn:
    async def power_on(old: Terminal) -> Terminal:
        """The terminal powers up again: what it kept in non-volatile memory (the request in
        flight, its STAN counter, journal, store-and-forward queue, open pre-authorizations,
        receipts to print, PIN pad) comes back; it reverses what was in flight."""
        await old.channel.drop()
        new = Terminal(old.profile, url, clock=old.clock, timeout_s=old.timeout_s,
                       pinpad=old.pinpad, first_stan=memory.next_stan.get(old.tid, 1),
                       memory=memory, seed=seed)  # fmt: skip
        new.reversal_attempts = old.reversal_attempts
        new.journal, new.saf, new.authorizations = old.journal, old.saf, old.authorizations
        new.unprinted, new.paper = old.unprinted, old.paper
        return await stack.enter_async_context(new)

    return power_on


async def _play(
    run: StepRunner,
    scenario: Scenario,
    result: ScenarioResult,
    progress: Callable[[StepResult], None] | None,
) -> None:
    """Every step in order, judged; then what the links carry is delivered to the switch."""
    clock, zone = run.clock, run.zone
    for number, step in enumerate(scenario.steps, 1):
        if step.at is not None and isinstance(clock, ScaledClock):
            clock.advance_to(moment(step.at, clock.now(), zone))
        began = time.perf_counter()
        try:
            actual, detail = await run.do(step)
        except PowerLostError as error:
            actual, detail = "power-loss", str(error)
        except TerminalError as error:  # refused by the terminal itself
            actual, detail = "terminal-error", str(error)
        judged = _judge(number, step, actual, detail, time.perf_counter() - began)
        result.steps.append(judged)
        if progress is not None:
            progress(judged)
    for lock in run.locks:
        await lock
    for tid in list(run.terminals):
        if not run.terminals[tid].powered and run.power_on is not None:
            run.terminals[tid] = await run.power_on(run.terminals[tid])
        tpe = run.terminals[tid]
        if tpe.link_cut:
            await tpe.restore_network()
        await tpe.quiesce()
    result.links = {tid: link_counts(tpe) for tid, tpe in sorted(run.terminals.items())}


async def run_scenario(
    scenario: Scenario,
    *,
    workdir: Path | None = None,
    broker: BrokerUrl | None = None,
    cards: CardSet | None = None,
    registry: Registry | None = None,
    progress: Callable[[StepResult], None] | None = None,
    seed: int | None = None,
    restart_broker: Restart | None = None,
) -> ScenarioResult:
    """Run ``scenario`` on its own broker (unless ``broker``, which ``restart_broker`` can
    restart for ``broker`` steps) and ledger in ``workdir``; ``seed`` replaces the scenario's
    own."""
    seed = scenario.seed if seed is None else seed
    cards = cards or default_card_set()
    registry = registry or default_registry()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="tpesim-scenario-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "ledger.db"
    if db.exists():
        raise ScenarioError(f"{db} exists: give the scenario an empty work directory")
    profiles = _profiles(scenario, cards, registry)
    clock: Clock = ScaledClock(scenario.clock.start, scenario.clock.speed) if scenario.clock \
        else SystemClock()  # fmt: skip
    cutoff = time_of_day.fromisoformat(scenario.cutoff) if scenario.cutoff else MIDNIGHT
    security = SecurityModule(load_keys())
    memory = InProcessMemory()
    result = ScenarioResult(scenario, workdir=workdir, seed=seed)
    started = time.perf_counter()
    async with (
        _broker(broker, workdir, restart_broker) as (url, restart),
        watching(url, f"tpesim-scenario-watch-{id(result):x}") as watch,
        _switch(scenario, url, db, watch, cards=cards, registry=registry,
                security=security, clock=clock, cutoff=cutoff) as switch,
        connected_fleet(
            profiles, url, clock=clock, timeout_s=scenario.timeout_s,
            key_injection=security, seed=seed, memory=memory,
        ) as terminals,
        contextlib.AsyncExitStack() as powered_on,
    ):  # fmt: skip
        for tpe in terminals.values():
            tpe.reversal_attempts = scenario.reversal_attempts
        if restart is None and any(step.action == "broker" for step in scenario.steps):
            raise ScenarioError(f"scenario {scenario.name!r} restarts the broker: that needs "
                                "a broker tpesim started itself (mosquitto)")  # fmt: skip
        run = StepRunner(dict(terminals), cards, Wallet(cards, security), security, switch)
        run.watch, run.restart = watch, restart
        run.power_on = _powering_on(url, memory, seed, powered_on)
        run.clock, run.zone = clock, ZoneInfo(profiles[0].merchant.country_info.timezone)

        async def settle_days_over() -> tuple[str, str]:
            today = business_day(str(run.zone), clock.now(), cutoff)
            settled = []
            for day in business_days(db):
                if day < today:
                    done = await run_settlement(db, day, cards=cards, registry=registry,
                                                out=workdir, clock=clock)  # fmt: skip
                    result.settlements.append(done)
                    settled += [str(day)] if done.plan else []
            return f"settled:{len(settled)}", ", ".join(settled)

        run.settle = settle_days_over
        run.db = db
        await _play(run, scenario, result, progress)
    result.ledger = check_ledger(db)
    result.postings = ledger_summary(db)
    result.approvals = len(run.approved)
    result.lost_approvals = unheld(db, sorted(run.approved.values()))
    result.receipt_mismatches = receipt_mismatches(db, run.reported, sorted(terminals))
    result.ledger_checks = _ledger_expectations(scenario, db, cards)
    if scenario.settle:
        for day in business_days(db):
            result.settlements.append(
                await run_settlement(
                    db, day, cards=cards, registry=registry, out=workdir, clock=clock
                )
            )
    result.elapsed_s = time.perf_counter() - started
    return result
