"""``scripts/mutate``: mutation testing of the money and security cores (docs/testing.md).

    scripts/mutate                       every module of targets.toml, one after the other
    scripts/mutate switch/rules/authorization.py   one module (or SQL schema)
    scripts/mutate --list PATH           its mutants, without running them
    scripts/mutate --changed REF --gated --sample 40    CI: the gated modules changed since REF

A full run of a module updates tests/mutation/results.json and the report in docs/testing.md.
Exit 0 when every survivor is explained, 1 when one is not, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from tests.mutation.changes import changed_since
from tests.mutation.operators import Mutant, python_mutants, sql_mutants
from tests.mutation.report import (
    Target,
    load_targets,
    record,
    record_planted,
    summarise,
    update_docs,
)
from tests.mutation.runner import baseline, run_mutants

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "testing.md"


def mutants_of(path: str) -> list[Mutant]:
    """Every mutant of one file of the project."""
    return sql_mutants(ROOT, path) if path.endswith(".sql") else python_mutants(ROOT, path)


def _touched(target: Target, changed: set[str]) -> bool:
    """Whether ``changed`` holds the target's file or one of its tests."""
    tests = [t for t in target.tests if not t.startswith("-")]
    return target.path in changed or any(f.startswith(t) for f in changed for t in tests)


def _run(target: Target, args: argparse.Namespace) -> bool:
    """Run ``target``'s mutants; True when every survivor is explained."""
    mutants = mutants_of(target.path)
    sampled = args.sample is not None and args.sample < len(mutants)
    chosen = random.Random(args.seed).sample(mutants, args.sample) if sampled else mutants
    with tempfile.TemporaryDirectory(prefix="mutate-") as work:
        workdir = Path(work)
        base_s = baseline(target.tests, workdir)
        limit = max(10.0, base_s * 3)
        print(f"{target.path}: {len(chosen)} mutants, tests take {base_s:.1f} s", flush=True)
        started = time.monotonic()
        outcomes = []
        by_site = {m.site: m for m in chosen}
        for outcome in run_mutants(ROOT, list(by_site), target.tests, workdir, jobs=args.jobs,
                                   timeout_s=limit, mutant_of=dict(by_site.items())):  # fmt: skip
            outcomes.append(outcome)
            mutant = by_site[outcome.site]
            if args.verbose or outcome.status in ("survived", "error"):
                killer = f"  <- {outcome.killer}" if outcome.killer else ""
                print(f"  {outcome.status:8} line {mutant.line}: {mutant.scope} | "
                      f"{mutant.description} | {mutant.source}{killer}", flush=True)  # fmt: skip
    result = summarise(target.path, chosen, outcomes)
    print(f"{target.path}: {result.killed + result.timeouts}/{result.mutants} killed, "
          f"{len(result.explained)} equivalent, {len(result.survivors)} to kill, "
          f"{len(result.errors)} errors; score {result.score:.1f} % "
          f"({time.monotonic() - started:.0f} s)", flush=True)  # fmt: skip
    if not sampled and not args.no_record:
        record(result)
        update_docs(DOC)
    return not result.survivors and not result.errors


def planted() -> list[tuple[Mutant, str]]:
    """The hand-planted bugs of ``planted.toml``, each with the test that must catch it."""
    data = tomllib.loads((Path(__file__).parent / "planted.toml").read_text("utf-8"))
    found = []
    for site, item in enumerate(data["planted"], start=100_000):
        text = (ROOT / item["path"]).read_text("utf-8")
        line = text[: text.find(item["find"])].count("\n") + 1
        mutant = Mutant(item["path"], site, "", line, item["name"], item["find"].strip(),
                        find=item["find"], replace_with=item["replace"])  # fmt: skip
        found.append((mutant, item["caught_by"]))
    return found


def _run_planted(args: argparse.Namespace) -> bool:
    """Plant each bug of ``planted.toml``; True when each is caught by its named test."""
    bugs = planted()
    tests_of = {mutant.site: [test] for mutant, test in bugs}
    files = sorted({test.split("::")[0] for _, test in bugs})
    caught: dict[str, tuple[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="mutate-") as work:
        baseline(files, Path(work))
        by_site = {mutant.site: mutant for mutant, _ in bugs}
        for outcome in run_mutants(ROOT, list(by_site), files, Path(work), jobs=args.jobs,
                                   timeout_s=120.0, mutant_of=dict(by_site.items()),
                                   tests_of=dict(tests_of.items())):  # fmt: skip
            name = by_site[outcome.site].description
            caught[name] = (outcome.status, outcome.killer)
            print(f"  {outcome.status:8} {name}  <- {outcome.killer}", flush=True)
    ordered = {mutant.description: caught[mutant.description] for mutant, _ in bugs}
    ok = all(status == "killed" and killer.startswith(tests_of[m.site][0])
             for m, _ in bugs for status, killer in [ordered[m.description]])  # fmt: skip
    if not args.no_record:
        record_planted(ordered)
        update_docs(DOC)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutate", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="files of targets.toml (default: all)")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--changed", metavar="REF", help="only files changed since REF")
    parser.add_argument("--gated", action="store_true", help="only targets with gate = true")
    parser.add_argument("--sample", type=int, help="at most N mutants per file (seeded)")
    parser.add_argument("--seed", type=int, default=8583)
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--no-record", action="store_true", help="leave results.json alone")
    parser.add_argument("--planted", action="store_true",
                        help="plant the bugs of planted.toml, each caught by its test")  # fmt: skip
    parser.add_argument("--report", action="store_true",
                        help="only rewrite docs/testing.md from results.json")  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="print every outcome")
    args = parser.parse_args(argv)
    targets = {t.path: t for t in load_targets()}
    unknown = [p for p in args.paths if p not in targets]
    if unknown:
        parser.error(f"not in tests/mutation/targets.toml: {', '.join(unknown)}")
    chosen = [targets[p] for p in args.paths] if args.paths else list(targets.values())
    if args.gated:
        chosen = [t for t in chosen if t.gate]
    if args.changed:
        changed = changed_since(args.changed, ROOT)
        chosen = [t for t in chosen if _touched(t, changed)]
    if args.report:
        update_docs(DOC)
        return 0
    if args.planted:
        return 0 if _run_planted(args) else 1
    if args.list:
        for target in chosen:
            for mutant in mutants_of(target.path):
                print(f"{mutant.site:4} line {mutant.line}: {mutant.key}")
        return 0
    if not chosen:
        print("mutate: no target to run", flush=True)
        return 0
    ok = [_run(target, args) for target in chosen]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
