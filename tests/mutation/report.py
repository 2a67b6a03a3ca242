"""The mutation report: per module, how many mutants the tests kill, and each survivor either
explained (an equivalent mutant, with its reason, in an ``equivalent*.toml``) or listed to kill.

Each run of a module replaces that module's entry in ``results.json``; docs/testing.md shows the
table of every module, regenerated between its two report markers.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.mutation.operators import Mutant
from tests.mutation.runner import Outcome

__all__ = ["ModuleResult", "Target", "equivalents", "load_targets", "record", "render"]

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"
TARGETS = HERE / "targets.toml"
BEGIN, END = "<!-- mutation report: begin -->", "<!-- mutation report: end -->"


@dataclass(frozen=True)
class Target:
    """A module (or SQL schema) whose mutants are run, and the tests that must kill them."""

    path: str
    tests: tuple[str, ...]
    gate: bool
    """Whether CI fails on an unexplained survivor of this module."""


def load_targets(path: Path = TARGETS) -> list[Target]:
    """The modules ``targets.toml`` lists, in its order."""
    data = tomllib.loads(path.read_text("utf-8"))
    return [
        Target(item["path"], tuple(item["tests"]), bool(item.get("gate", False)))
        for item in data["target"]
    ]


def equivalents(folder: Path = HERE) -> dict[str, str]:
    """Mutant key -> why it is equivalent (no test could kill it without testing trivia), from
    every ``equivalent*.toml`` of ``folder`` (one file per area: core, crypto, ...)."""
    found: dict[str, str] = {}
    for path in sorted(folder.glob("equivalent*.toml")):
        data = tomllib.loads(path.read_text("utf-8"))
        found.update({item["key"]: item["reason"] for item in data.get("mutant", [])})
    return found


@dataclass(frozen=True)
class ModuleResult:
    """One module's run: counts and the mutants that were not killed."""

    path: str
    mutants: int
    killed: int
    timeouts: int
    explained: list[tuple[str, str]]
    """(``line N: key``, reason) of each equivalent survivor."""
    survivors: list[str]
    """``line N: key`` of each survivor nobody explained yet: tests to write."""
    errors: list[str]
    seconds: float

    @property
    def score(self) -> float:
        """Killed (timeouts included) over the mutants that are not equivalent, in %."""
        judged = self.mutants - len(self.explained) - len(self.errors)
        return 100.0 * (self.killed + self.timeouts) / judged if judged else 100.0


def summarise(path: str, mutants: Sequence[Mutant], outcomes: Sequence[Outcome]) -> ModuleResult:
    """Count ``outcomes`` of ``mutants`` of ``path``; survivors sorted into explained (by the
    ``equivalent*.toml`` files) and still to kill."""
    by_site = {m.site: m for m in mutants}
    known = equivalents()
    explained, survivors, errors = [], [], []
    for outcome in sorted(outcomes, key=lambda o: o.site):
        mutant = by_site[outcome.site]
        if outcome.status == "survived":
            if mutant.key in known:
                explained.append((f"line {mutant.line}: {mutant.key}", known[mutant.key]))
            else:
                survivors.append(f"line {mutant.line}: {mutant.key}")
        elif outcome.status == "error":
            errors.append(f"line {mutant.line}: {mutant.key}: {outcome.killer}")
    return ModuleResult(
        path=path,
        mutants=len(outcomes),
        killed=sum(o.status == "killed" for o in outcomes),
        timeouts=sum(o.status == "timeout" for o in outcomes),
        explained=explained,
        survivors=survivors,
        errors=errors,
        seconds=sum(o.seconds for o in outcomes),
    )


def _load(results: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(results.read_text("utf-8")) if results.exists() else {}
    return loaded


def _save(results: Path, data: dict[str, Any]) -> None:
    results.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")


def record(result: ModuleResult, results: Path = RESULTS) -> None:
    """Keep ``result`` (a full run, not a sample) as its module's entry in ``results.json``."""
    data = _load(results)
    data[result.path] = {
        "mutants": result.mutants,
        "killed": result.killed,
        "timeouts": result.timeouts,
        "survived": sorted([key for key, _ in result.explained] + result.survivors),
        "errors": result.errors,
        "seconds": round(result.seconds),
    }
    _save(results, data)


def record_planted(outcomes: dict[str, tuple[str, str]], results: Path = RESULTS) -> None:
    """Keep each planted bug's (status, test that caught it) in ``results.json``."""
    data = _load(results)
    data["planted"] = {name: list(result) for name, result in outcomes.items()}
    _save(results, data)


def _planted_table(data: dict[str, Any]) -> str:
    planted = data.get("planted", {})
    if not planted:
        return ""
    rows = ["| planted bug | caught by |", "|---|---|"]
    for name, (status, killer) in planted.items():
        caught = f"`{killer}`" if status == "killed" else f"**not caught** ({status})"
        rows.append(f"| {name} | {caught} |")
    return (
        "\n\nBugs planted by hand (`tests/mutation/planted.toml`, `scripts/mutate --planted`):\n\n"
        + "\n".join(rows)
    )


def render(results: Path = RESULTS) -> str:
    """The report's Markdown: one row per module, then the survivors still to kill."""
    data = _load(results)
    known = equivalents()
    rows = [
        "| module | mutants | killed | equivalent | survivors | score | test s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    open_: list[str] = []
    for target in load_targets():
        entry = data.get(target.path)
        if entry is None:
            rows.append(f"| `{target.path}` | not run yet | | | | | |")
            continue
        killed = entry["killed"] + entry["timeouts"]
        explained = [key for key in entry["survived"] if _key(key) in known]
        survivors = [key for key in entry["survived"] if _key(key) not in known]
        judged = entry["mutants"] - len(explained) - len(entry["errors"])
        score = 100.0 * killed / judged if judged else 100.0
        rows.append(
            f"| `{target.path}` | {entry['mutants']} | {killed} | {len(explained)} "
            f"| {len(survivors)} | {score:.1f} % | {entry['seconds']} |"
        )
        open_.extend(f"- `{key}`" for key in survivors)
    text = "\n".join(rows)
    if open_:
        text += "\n\nSurvivors still to kill or explain:\n\n" + "\n".join(open_)
    text += _planted_table(data)
    text += f"\n\nEquivalent mutants explained in `tests/mutation/equivalent*.toml`: {len(known)}."
    return text


def _key(survivor: str) -> str:
    """The mutant key of a recorded survivor (``line N: key``)."""
    return survivor.split(": ", 1)[1]


def update_docs(doc: Path) -> None:
    """Replace the report between the markers of ``doc`` with :func:`render`'s."""
    text = doc.read_text("utf-8")
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    doc.write_text(text[:start] + "\n" + render() + "\n" + text[stop:], "utf-8")
