"""Random fault timelines: a seed makes a scenario, the scenario runs, the invariants judge it.

A fuzz scenario has no expected response codes: whatever the faults do to a sale, the run must
end with a ledger that passes every invariant check, every approval a terminal saw held, and
each batch closed in balance (the terminal and the switch agree). The run's seed makes both the
timeline and the link's random faults, so ``tpesim scenario run --seed S`` replays the run of
seed S.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tpesim.scenario.model import Scenario
from tpesim.scenario.report import markdown_report
from tpesim.scenario.runner import ScenarioResult, run_scenario
from wire.transport.base import BrokerUrl

__all__ = ["FuzzSummary", "fuzz_scenario", "run_fuzz"]

TERMINALS = ("DZAL0011", "DZOR0011", "DZSE0011")
CARDS = ("EDH-VALID", "EDH-VALID-2", "EDH-VALID-3", "CIB-VALID", "CIB-VALID-2", "EDH-NO-FUNDS")
ISSUERS = ("algerie-poste", "banque-cib")
TIMEOUT_S = 0.4
"""Each fuzz terminal's response timeout: short, so that faults cost little wall time."""

_FAULTS: list[tuple[str, Callable[[random.Random], dict[str, Any]]]] = [
    ("lossy_link", lambda r: {"probability": r.choice((0.1, 0.2, 0.3))}),
    ("duplicate_delivery", lambda r: {"probability": r.choice((0.5, 1.0))}),
    ("drop_request", lambda r: {"count": r.randint(1, 2)}),
    ("drop_response", lambda r: {"count": r.randint(1, 2)}),
    ("hold_request", lambda r: {"seconds": 1.5 * TIMEOUT_S}),
    ("hold_response", lambda r: {"seconds": 1.5 * TIMEOUT_S}),
    ("duplicate_response", lambda r: {"seconds": r.choice((0.02, 0.1, 2 * TIMEOUT_S))}),
    ("slow_link", lambda r: {"seconds": 0.02, "jitter": 0.05}),
    ("lose_reversals", lambda r: {}),
    ("restore_link", lambda r: {}),
    ("reuse_stan", lambda r: {}),
    ("tamper_mac", lambda r: {}),
    ("paper_out", lambda r: {}),
    ("paper_in", lambda r: {}),
    ("network_down", lambda r: {}),
    ("network_up", lambda r: {}),
    ("power_loss", lambda r: {}),
    ("power_on", lambda r: {}),
    ("floor_limit", lambda r: {"amount": r.choice(("50,00", "500,00"))}),
]


def _stray_answer_combo(rng: random.Random, tid: str) -> list[dict[str, Any]]:
    """The combination that once printed a false approval (seed 5125 before the fix): a
    request answered twice (a duplicated request over a slow link, or a duplicated answer),
    then the terminal's STAN slips and the next request goes out under the same key, while
    the first one's second answer is still on its way."""
    first: dict[str, Any] = {
        "terminal": tid,
        "action": rng.choice(("refund", "purchase")),
        "card": rng.choice(CARDS),
        "amount": f"{rng.randint(5, 200)},00",
    }
    if rng.random() < 0.5:
        doubled = [
            {"terminal": tid, "action": "fault", "fault": "slow_link",
             "seconds": rng.choice((0.03, 0.05)), "jitter": 0.0},
            {"terminal": tid, "action": "fault", "fault": "duplicate_delivery",
             "probability": 1.0},
        ]  # fmt: skip
    else:
        doubled = [{"terminal": tid, "action": "fault", "fault": "duplicate_response",
                    "seconds": rng.choice((0.02, 0.05, 0.1))}]  # fmt: skip
    return [
        *doubled,
        first,
        {"terminal": tid, "action": "fault", "fault": "reuse_stan"},
        {"terminal": tid, "action": "purchase", "card": rng.choice(CARDS), "amount": _amount(rng)},
        {"terminal": tid, "action": "fault", "fault": "restore_link"},
    ]


def _amount(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:
        return "magic:99"  # approved and held, never answered
    if roll < 0.14:
        return "magic:51"
    return f"{rng.randint(10, 3000)},{rng.choice(('00', '50'))}"


def fuzz_scenario(seed: int) -> Scenario:
    """The random scenario of ``seed``: 1-3 terminals, 6-16 sales, refunds, pre-authorizations,
    link and terminal faults (among them the stray-answer combination) and issuers going down
    in random order, then every issuer up, every link restored and every batch closed."""
    rng = random.Random(seed)  # noqa: S311 - simulation, not secrets
    terminals = sorted(rng.sample(TERMINALS, rng.randint(1, len(TERMINALS))))
    steps: list[dict[str, Any]] = []
    open_preauths: list[tuple[str, str, int]] = []
    for _ in range(rng.randint(6, 16)):
        tid = rng.choice(terminals)
        roll = rng.random()
        if roll < 0.05:
            steps.append({"action": "issuer", "issuer": rng.choice(ISSUERS),
                          "state": rng.choice(("down", "up"))})  # fmt: skip
        elif roll < 0.1:
            steps += _stray_answer_combo(rng, tid)
        elif roll < 0.35:
            name, extra = rng.choice(_FAULTS)
            steps.append({"terminal": tid, "action": "fault", "fault": name, **extra(rng)})
        elif roll < 0.45:
            label = f"auth{len(steps)}"
            amount = rng.randint(50, 900)
            steps.append({"terminal": tid, "action": "preauth", "card": rng.choice(CARDS),
                          "amount": f"{amount},00", "label": label})  # fmt: skip
            open_preauths.append((tid, label, amount))
        elif roll < 0.55 and open_preauths:
            owner, label, amount = open_preauths.pop(rng.randrange(len(open_preauths)))
            if rng.random() < 0.5:
                steps.append({"terminal": owner, "action": "cancel", "of": label})
            else:
                done = rng.randint(1, amount)
                steps.append({"terminal": owner, "action": "complete", "of": label,
                              "amount": f"{done},00"})  # fmt: skip
        elif roll < 0.6:
            steps.append({"terminal": tid, "action": "refund", "card": rng.choice(CARDS),
                          "amount": f"{rng.randint(5, 200)},00"})  # fmt: skip
        else:
            steps.append({"terminal": tid, "action": "purchase", "card": rng.choice(CARDS),
                          "amount": _amount(rng)})  # fmt: skip
    for issuer in ISSUERS:  # back up: every stand-in advice is replayed
        steps.append({"action": "issuer", "issuer": issuer, "state": "up"})
    for tid in terminals:
        steps.append({"terminal": tid, "action": "fault", "fault": "power_on"})
        steps.append({"terminal": tid, "action": "fault", "fault": "network_up"})
        steps.append({"terminal": tid, "action": "fault", "fault": "restore_link"})
        steps.append({"terminal": tid, "action": "close_batch", "expect": "00"})
    return Scenario.model_validate(
        {
            "name": f"fuzz run of seed {seed}",
            "description": "A random fault timeline (tpesim scenario fuzz).",
            "terminals": terminals,
            "timeout_s": TIMEOUT_S,
            "reversal_attempts": 2,
            "seed": seed,
            "steps": steps,
            "ledger_ok": True,
            "settle": True,
        }
    )


def scenario_yaml(scenario: Scenario) -> str:
    """``scenario`` as a scenario file (what ``tpesim scenario run FILE`` reads)."""
    document = scenario.model_dump(mode="json", exclude_defaults=True)
    document["steps"] = [
        step.model_dump(mode="json", exclude_defaults=True) for step in scenario.steps
    ]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


@dataclass
class FuzzSummary:
    """What ``runs`` random timelines did: faults injected, invariant violations, lost
    approvals, and the seeds of the runs that failed."""

    runs: int = 0
    faults: int = 0
    violations: int = 0
    lost_approvals: int = 0
    receipt_mismatches: int = 0
    approvals: int = 0
    failed_seeds: list[int] = field(default_factory=list)

    def add(self, result: ScenarioResult) -> None:
        self.runs += 1
        self.faults += sum(1 for step in result.scenario.steps if step.action == "fault")
        if result.ledger is not None:
            self.violations += len(result.ledger.problems)
        self.lost_approvals += len(result.lost_approvals)
        self.receipt_mismatches += len(result.receipt_mismatches)
        self.approvals += result.approvals
        if not result.passed:
            self.failed_seeds.append(result.seed)

    def render(self) -> str:
        line = (
            f"{self.runs} runs, {self.faults} faults injected, {self.violations} invariant "
            f"violations, {self.lost_approvals} lost approvals, {self.receipt_mismatches} "
            "receipt mismatches"
        )
        if self.failed_seeds:
            seeds = ", ".join(str(seed) for seed in self.failed_seeds)
            line += f"\nfailed: seeds {seeds} (replay: tpesim scenario run --seed SEED)"
        return line


async def run_fuzz(
    runs: int,
    seed: int,
    *,
    workdir: Path,
    broker: BrokerUrl,
    progress: Callable[[ScenarioResult], None] | None = None,
) -> FuzzSummary:
    """Run the fuzz scenarios of seeds ``seed`` .. ``seed + runs - 1`` on ``broker``, each
    in its own directory under ``workdir``."""
    summary = FuzzSummary()
    for number in range(runs):
        run_seed = seed + number
        scenario = fuzz_scenario(run_seed)
        directory = workdir / f"seed-{run_seed}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "scenario.yaml").write_text(scenario_yaml(scenario), encoding="utf-8")
        result = await run_scenario(scenario, workdir=directory, broker=broker)
        summary.add(result)
        (directory / "report.md").write_text(markdown_report(result), encoding="utf-8")
        if progress is not None:
            progress(result)
    return summary
