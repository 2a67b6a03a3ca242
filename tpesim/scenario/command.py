"""``tpesim scenario run`` and ``tpesim scenario fuzz``: the command-line side of scenarios."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tpesim.broker.launcher import given_or_running_broker
from tpesim.scenario.fuzz import fuzz_scenario, run_fuzz, scenario_yaml
from tpesim.scenario.model import ScenarioError, load_scenario
from tpesim.scenario.report import junit_xml, latency_svg, markdown_report
from tpesim.scenario.runner import ScenarioResult, StepResult, run_scenario

if TYPE_CHECKING:
    from tpesim.cli.support import OneLineParser

    _Commands = argparse._SubParsersAction[OneLineParser]

__all__ = ["add_scenario_commands", "scenario_command"]

Logging = Callable[[Path | None, bool], None]


def add_scenario_commands(sub: _Commands, broker: Callable[[str], Any]) -> None:
    """Add ``scenario run`` and ``scenario fuzz`` to ``sub``; ``broker`` parses a broker URL."""
    scenario = sub.add_parser("scenario", help="scripted and random fault scenarios (QA)")
    scenario_sub = scenario.add_subparsers(dest="scenario_command", required=True)
    run = scenario_sub.add_parser(
        "run", help="run a scenario file (or the fuzz run of --seed); JUnit XML + Markdown report"
    )
    run.add_argument("file", type=Path, nargs="?", help="scenario YAML (see scenarios/)")
    run.add_argument("--seed", type=int, help="seed of the random faults (replaces the file's); "
                     "without a file: replay the fuzz run of this seed")  # fmt: skip
    run.add_argument("--out", type=Path, help="where to write junit.xml, report.md and the ledger")
    run.add_argument("--broker", type=broker, help="use this broker instead of starting one")
    fuzz = scenario_sub.add_parser(
        "fuzz", help="random fault timelines, each judged by the ledger's invariants"
    )
    fuzz.add_argument("--runs", type=int, default=20, help="how many runs (default 20)")
    fuzz.add_argument("--seed", type=int, default=1, help="seed of the first run (default 1)")
    fuzz.add_argument("--out", type=Path, help="where each run's files go")
    fuzz.add_argument("--broker", type=broker, help="use this broker instead of starting one")


async def scenario_command(args: argparse.Namespace, configure_logging: Logging) -> int:
    """Run ``tpesim scenario run`` or ``tpesim scenario fuzz``; the exit status."""
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="tpesim-scenario-"))
    out.mkdir(parents=True, exist_ok=True)
    configure_logging(out / "tpesim.log", False)
    if args.scenario_command == "fuzz":
        return await _fuzz(args, out)
    return await _run(args, out)


async def _run(args: argparse.Namespace, out: Path) -> int:
    if args.file is not None:
        scenario = load_scenario(args.file)
    elif args.seed is not None:
        scenario = fuzz_scenario(args.seed)
        (out / "scenario.yaml").write_text(scenario_yaml(scenario), encoding="utf-8")
    else:
        raise ScenarioError("give a scenario file, or --seed to replay a fuzz run")
    print(f"scenario: {scenario.name} ({len(scenario.steps)} steps)")

    def progress(step: StepResult) -> None:
        mark = "ok  " if step.passed else "FAIL"
        print(f"  {mark} {step.number:>3}. {step.step.describe()} -> {step.actual}", flush=True)

    result = await run_scenario(
        scenario, workdir=out, broker=args.broker, progress=progress, seed=args.seed
    )
    for name, ok, detail in result.checks:
        print(f"  {'ok  ' if ok else 'FAIL'}      {name}" + ("" if ok else f": {detail}"))
    (out / "junit.xml").write_text(junit_xml(result), encoding="utf-8")
    (out / "report.md").write_text(markdown_report(result), encoding="utf-8")
    (out / "latency.svg").write_text(latency_svg(result), encoding="utf-8")
    verdict = "PASSED" if result.passed else "FAILED"
    print(f"trace {result.trace_digest} (seed {result.seed})")
    print(f"{verdict} in {result.elapsed_s:.1f} s; {out / 'junit.xml'}, {out / 'report.md'}")
    return 0 if result.passed else 1


async def _fuzz(args: argparse.Namespace, out: Path) -> int:
    if args.runs < 1:
        raise ScenarioError("--runs must be at least 1")
    print(f"fuzz: {args.runs} runs from seed {args.seed}; runs under {out}")

    def progress(result: ScenarioResult) -> None:
        mark = "ok  " if result.passed else "FAIL"
        print(f"  {mark} seed {result.seed}: {len(result.steps)} steps, "
              f"{result.approvals} approvals, {result.elapsed_s:.1f} s", flush=True)  # fmt: skip

    async with given_or_running_broker(args.broker, out) as handle:
        summary = await run_fuzz(args.runs, args.seed, workdir=out, broker=handle.url,
                                 progress=progress)  # fmt: skip
    print(summary.render())
    return 0 if not summary.failed_seeds else 1
