"""Run each mutant against its tests, in forked children of one process that has already
imported the code and collected the tests: a mutant costs a fork and its tests, not an
interpreter start.

A child plants its mutant (:mod:`tests.mutation.apply`) and runs pytest, stopping at the first
failure. Exit 0 means the mutant survived; a failing test kills it; a child still running after
its time limit (a mutant that loops) is killed with its process group and counted as killed
by timeout. Hypothesis runs derandomized, so a verdict is the same on every run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Outcome", "Status", "baseline", "run_mutants"]

Status = Literal["killed", "timeout", "survived", "error"]

_PYTEST_OPTIONS = ("-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--no-header")
_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)
_NOT_APPLIED = 97
"""A child's exit status when its mutant could not be planted."""


@dataclass(frozen=True)
class Outcome:
    """What one mutant's tests did."""

    site: int
    status: Status
    seconds: float
    killer: str = ""
    """The first test that failed (``tests/unit/test_x.py::test_y``), when one did."""


def baseline(tests: Sequence[str], workdir: Path) -> float:
    """Collect ``tests`` in this process (importing them once for every child), then run them
    unmutated in a child; the seconds they take. Raises if they do not pass as they are."""
    import pytest  # noqa: PLC0415 - imported by the process that forks, once

    with _Quiet(workdir / "collect.log"):
        code = pytest.main([*tests, "--collect-only", *_PYTEST_OPTIONS])
    if code != 0:
        raise RuntimeError(f"collecting {' '.join(tests)} failed: see {workdir / 'collect.log'}")
    outcome = next(run_mutants(None, [-1], tests, workdir, jobs=1, timeout_s=1800.0))
    if outcome.status != "survived":
        log = workdir / "-1.log"
        raise RuntimeError(f"the tests fail without any mutant ({outcome.killer}): see {log}")
    return outcome.seconds


def run_mutants(
    root: Path | None,
    sites: Sequence[int],
    tests: Sequence[str],
    workdir: Path,
    *,
    jobs: int,
    timeout_s: float,
    mutant_of: dict[int, object] | None = None,
    tests_of: dict[int, Sequence[str]] | None = None,
) -> Iterator[Outcome]:
    """Run each site's mutant (``-1``: none) against ``tests``, ``jobs`` at a time; outcomes in
    the order they finish. ``mutant_of`` maps a site to its :class:`Mutant`, ``tests_of`` to
    tests of its own (instead of ``tests``)."""
    queue = list(sites)
    running: dict[int, tuple[int, float]] = {}
    while queue or running:
        while queue and len(running) < jobs:
            site = queue.pop(0)
            own_tests = (tests_of or {}).get(site, tests)
            running[_fork(root, site, own_tests, workdir, (mutant_of or {}).get(site))] = (
                site,
                time.monotonic(),
            )
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            for child, (site, started) in list(running.items()):
                if time.monotonic() - started > timeout_s:
                    _kill_group(child)
                    os.waitpid(child, 0)
                    del running[child]
                    yield Outcome(site, "timeout", time.monotonic() - started)
            time.sleep(0.02)
            continue
        if pid not in running:
            continue
        site, started = running.pop(pid)
        yield _outcome(site, status, time.monotonic() - started, workdir)


def _fork(root: Path | None, site: int, tests: Sequence[str], workdir: Path, mutant: object) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        os.setpgid(0, 0)
        log = os.open(workdir / f"{site}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        code = _child(root, mutant, tests, workdir / f"tmp-{site}")
    except BaseException as error:
        print(f"mutation child: {type(error).__name__}: {error}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _child(root: Path | None, mutant: object, tests: Sequence[str], basetemp: Path) -> int:
    import hypothesis  # noqa: PLC0415
    import pytest  # noqa: PLC0415

    from tests.mutation.apply import MutantNotAppliedError, plant  # noqa: PLC0415
    from tests.mutation.operators import Mutant  # noqa: PLC0415

    hypothesis.settings.register_profile(
        "mutation", derandomize=True, database=None, deadline=None, print_blob=False
    )
    hypothesis.settings.load_profile("mutation")
    if root is not None and isinstance(mutant, Mutant):
        try:
            plant(root, mutant)
        except (MutantNotAppliedError, LookupError) as error:
            print(f"mutant not applied: {error}")
            return _NOT_APPLIED
    try:
        return int(pytest.main([*tests, *_PYTEST_OPTIONS, "--basetemp", str(basetemp)]))
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)


def _outcome(site: int, status: int, seconds: float, workdir: Path) -> Outcome:
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return Outcome(site, "survived", seconds)
    text = (workdir / f"{site}.log").read_text("utf-8", errors="replace")
    if code == _NOT_APPLIED or code < 0:
        return Outcome(site, "error", seconds, text.strip().splitlines()[-1] if text else "")
    failed = _FAILED.search(text)
    return Outcome(site, "killed", seconds, failed.group(1) if failed else f"exit {code}")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


class _Quiet:
    """Send this process's stdout and stderr to ``path`` for a while."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: tuple[int, int] = (-1, -1)

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        log = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)

    def __exit__(self, *_: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        os.close(self.saved[0])
        os.close(self.saved[1])
