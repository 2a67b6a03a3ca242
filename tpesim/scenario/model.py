"""The scenario file: what to run, step by step, and what each step must give.

```yaml
name: a lost reversal is an explained out-of-balance batch
terminals: [DZOR0001]
timeout_s: 1.0
steps:
  - {terminal: DZOR0001, action: purchase, card: EDH-VALID, amount: "300,00", expect: "00"}
  - {terminal: DZOR0001, action: fault, fault: lose_reversals}
  - {terminal: DZOR0001, action: purchase, card: EDH-VALID, amount: "magic:99", expect: timeout}
  - {terminal: DZOR0001, action: close_batch, expect: "95", explains: [lost reversal]}
ledger_ok: true
settle: true
```

Amounts are in major units of the terminal's currency (``"1 500,00"``), or ``magic:NN`` for the
magic amount ending in NN. ``pin`` defaults to the holder's own; ``wrong`` types a wrong one.
``complete`` and ``cancel`` name the ``label`` of an earlier ``preauth``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cards.currency import is_amount_text

__all__ = ["Action", "Scenario", "ScenarioError", "Step", "load_scenario"]

Action = Literal[
    "purchase",
    "preauth",
    "refund",
    "complete",
    "cancel",
    "close_batch",
    "fault",
    "reprint",
    "wait",
    "issuer",
    "status",
    "broker",
    "burst",
    "settle",
    "database",
]
Fault = Literal[
    "lose_reversals",
    "restore_link",
    "lossy_link",
    "duplicate_delivery",
    "duplicate_response",
    "drop_request",
    "drop_response",
    "hold_request",
    "hold_response",
    "reuse_stan",
    "tamper_mac",
    "network_down",
    "network_up",
    "power_loss",
    "power_on",
    "clock_skew",
    "floor_limit",
    "paper_out",
    "paper_in",
    "dukpt_exhausted",
    "rekey",
    "slow_link",
    "fast_link",
    "reader_fault",
    "reader_ok",
]


class ScenarioError(ValueError):
    """The scenario file cannot be read or is not a valid scenario (the message says where)."""


AT_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^\+[0-9]+(\.[0-9]+)?[smhd]$"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def moment(at: str, now: datetime, zone: ZoneInfo) -> datetime:
    """When a step marked ``at`` runs, on the scenario clock now at ``now``: ``HH:MM`` is the
    next such local time in ``zone`` (today, or tomorrow if it has passed); ``+N[smhd]`` is that
    long after ``now``."""
    if at.startswith("+"):
        return now + timedelta(seconds=float(at[1:-1]) * _UNITS[at[-1]])
    hour, minute = int(at[:2]), int(at[3:])
    local = now.astimezone(zone)
    target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target < local:
        target += timedelta(days=1)
    return target


class ClockSpec(BaseModel):
    """The scenario's simulated clock: where it starts and how much faster than real time it
    runs; steps with ``at`` jump it forward."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime
    speed: float = Field(default=1.0, ge=1.0, le=86_400)


class Step(BaseModel):
    """One thing a terminal does, and what must come of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    terminal: str | None = None
    """The terminal that acts (every action but ``issuer``, ``broker`` and ``burst``)."""
    at: str | None = Field(default=None, pattern=AT_PATTERN)
    """Run this step at ``HH:MM`` (the next such local time of the first terminal) or ``+N``
    seconds/minutes/hours/days (``+30m``, ``+6d``) later on the scenario clock, which jumps
    there (it never goes back)."""
    action: Action
    label: str | None = None
    card: str | None = None
    amount: str | None = None
    pin: str | None = None
    of: str | None = None
    """For ``complete`` / ``cancel``: the ``label`` of the pre-authorization."""
    fault: Fault | None = None
    issuer: str | None = None
    """For ``issuer``: the issuer id (``algerie-poste``, ``banque-cib``...)."""
    state: Literal["up", "down", "slow"] | None = None
    """For ``issuer``: down (the switch stands in), slow (answers after ``seconds``; past the
    switch's deadline it stands in), or up again (queued 0120 advices are replayed)."""
    seconds: float | None = Field(default=None, ge=0, le=30)
    """For ``slow_link``: the delay each message takes in each direction; for
    ``hold_request`` / ``hold_response``: how long the next one is held back; for
    ``duplicate_response``: how long after each response its copy arrives; for ``wait``:
    how long; for ``database``: how long another process holds the ledger locked."""
    skew: float = Field(default=0.0, ge=-604_800, le=604_800)
    """For ``clock_skew``: seconds the terminal's clock is ahead (negative: behind); 0 sets
    it right."""
    jitter: float = Field(default=0.0, ge=0, le=10)
    """For ``slow_link``: up to this many seconds more per message (seeded)."""
    probability: float = Field(default=1.0, ge=0, le=1)
    """For ``lossy_link`` (each message lost) and ``duplicate_delivery`` (each request twice)."""
    count: int = Field(default=1, ge=1, le=1000)
    """For ``drop_request`` / ``drop_response``: how many in a row; for ``burst``: how many
    sales."""
    cards: tuple[str, ...] = ()
    """For ``burst``: one card per terminal, in turn (a card is in one terminal at a time:
    the same chip in three terminals at once would see its counter go backwards)."""
    kill_switch_after: int | None = Field(default=None, ge=1)
    """For ``burst``: kill -9 the switch (run as a child process) once this many sales have
    ended, and start it again."""
    expect: str | None = Field(
        default=None,
        pattern=r"^([0-9]{2}|timeout|acknowledged|reprinted:[0-9]+|terminal-error|late:[0-9]+"
        r"|replayed:[0-9]+|online|offline|degraded:[a-z-]+|power-loss|settled:[0-9]+|Y3|Z3)$",
    )
    """DE39, ``timeout`` (no answer in time), ``acknowledged`` for a ``cancel``,
    ``reprinted:N`` for a ``reprint``, ``terminal-error`` (refused by the terminal itself,
    nothing sent), ``power-loss`` (the power went mid-sale), ``late:N`` for a ``wait``: the
    answers that came after the terminal had given up on them, so far, ``replayed:N`` for an
    issuer back ``up``: the stand-in advices trued up; for ``status``, the terminal's retained
    status (``online``, ``offline`` from its Last Will, ``degraded:paper-out``), waited for up
    to 10 s."""
    mode: Literal["graceful", "kill"] | None = None
    """For ``broker``: restart the broker gracefully or ``kill -9`` it, then start it again."""
    receipt: tuple[str, ...] = ()
    """For a sale: texts its receipt must show (e.g. ``HORS LIGNE``, an amount)."""
    printed: bool | None = None
    """For a sale: whether its receipt must have been printed (False while out of paper)."""
    explains: tuple[str, ...] = ()
    """For ``close_batch``: texts each expected in one of the 0510's explanations."""

    @field_validator("amount")
    @classmethod
    def _amount_text(cls, text: str | None) -> str | None:
        """An amount is ``magic:NN`` or major units written plainly (``"1 500,00"``): an
        exponent (``1e3``), a sign or a number YAML read as a float is refused at load."""
        if text is None or re.fullmatch(r"magic:[0-9]{2}", text):
            return text
        if not is_amount_text(text):
            raise ValueError(f"amount {text!r} is not an amount: write it as text, e.g. '1500,00'")
        return text

    @model_validator(mode="after")
    def _fields_for_action(self) -> Step:
        needs = {
            "purchase": ("card", "amount"),
            "preauth": ("card", "amount"),
            "refund": ("card", "amount"),
            "complete": ("of", "amount"),
            "cancel": ("of",),
            "fault": ("fault",),
            "wait": ("seconds",),
            "issuer": ("issuer", "state"),
            "broker": ("mode",),
            "burst": ("amount",),
            "database": ("seconds",),
            "status": ("expect",),
        }.get(self.action, ())
        if self.action not in ("issuer", "broker", "burst", "settle", "database"):
            needs = (*needs, "terminal")
        timed = ("slow_link", "hold_request", "hold_response", "duplicate_response")
        if self.fault in timed or self.state == "slow":
            needs = (*needs, "seconds")
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.action} needs {', '.join(missing)}")
        if self.action == "burst" and not self.cards:
            raise ValueError("burst needs cards")
        return self

    def describe(self) -> str:
        if self.action == "issuer":
            return f"issuer {self.issuer} {self.state}"
        if self.action == "broker":
            return f"broker restart ({self.mode})"
        if self.action == "settle":
            return "settle the days that are over"
        if self.action == "database":
            return f"database locked for {self.seconds:g} s"
        parts = [self.terminal or "", self.action]
        parts += [f"{k}={v}" for k in ("card", "amount", "of", "fault") if (v := getattr(self, k))]
        if self.action == "burst":
            parts += [f"count={self.count}", f"cards={','.join(self.cards)}"]
        return " ".join(part for part in parts if part)


class Scenario(BaseModel):
    """A scenario: its terminals, steps, and the end-of-run checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    terminals: tuple[str, ...] = Field(min_length=1)
    timeout_s: float = Field(default=2.0, gt=0, le=30)
    reversal_attempts: int = Field(default=5, ge=1, le=10)
    """How many times in a row a terminal sends a reversal advice before queueing it."""
    seed: int = 0
    """Seeds every random fault (link loss, jitter, duplicates): same seed, same run."""
    clock: ClockSpec | None = None
    """A simulated clock for the switch, the ledger and the terminals (default: the real one).
    Timeouts stay in real seconds: only business time is simulated."""
    cutoff: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    """The switch's day's-end cut-off, terminal local time (default midnight)."""
    steps: tuple[Step, ...] = Field(min_length=1)
    ledger_ok: bool = True
    """The invariant checker must pass after the steps."""
    settle: bool = False
    """Settle the business day after the steps; the net positions must sum to zero."""
    transfers: dict[str, int] = Field(default_factory=dict)
    """Ledger transfers by ``kind/phase`` (e.g. ``purchase/pending``, ``purchase/void``) that
    must be there after the steps, exactly this many (before any settlement)."""
    balances: dict[str, str] = Field(default_factory=dict)
    """Available balances (credits posted - debits posted - debits pending), in major units of
    the account's currency, by account id or card id, after the steps."""

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        labels: set[str] = set()
        for number, step in enumerate(self.steps, 1):
            if step.terminal is not None and step.terminal not in self.terminals:
                raise ValueError(f"step {number}: terminal {step.terminal} is not in terminals")
            if step.of is not None and step.of not in labels:
                raise ValueError(f"step {number}: no earlier step labelled {step.of!r}")
            if step.label is not None:
                labels.add(step.label)
            if step.at is not None and self.clock is None:
                raise ValueError(f"step {number}: 'at' needs a simulated clock (clock: start)")
        return self


def load_scenario(path: Path) -> Scenario:
    """Read and validate the scenario at ``path``; ScenarioError naming the problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ScenarioError(f"{path}: {error}") from None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ScenarioError(f"{path}: {where}: {first['msg']}") from None
