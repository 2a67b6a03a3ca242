"""Shared fixtures: a real Mosquitto broker on a free port, and a temporary ledger path; and a
hung test turned into a failure that shows where every task waits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from tests.ledgers import BACKENDS, LedgerBackend, make_backend
from tpesim.broker.launcher import find_mosquitto, free_port, mosquitto_config
from wire.transport.base import BrokerUrl


class MosquittoProcess:
    """A Mosquitto child process listening on 127.0.0.1:``port``: an open broker, or the one
    ``config`` describes (listening on ``port``)."""

    def __init__(self, workdir: Path, config: Path | None = None, port: int = 0) -> None:
        executable = find_mosquitto()
        if executable is None:
            pytest.fail("integration tests need mosquitto (apt-get install mosquitto)")
        self.executable = executable
        self.port = port or free_port()
        if config is None:
            config = workdir / "mosquitto.conf"
            config.write_text(mosquitto_config(self.port), encoding="utf-8")
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.log: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl("127.0.0.1", self.port)

    def start(self) -> None:
        """Start Mosquitto and return once it logs that it is running."""
        self.process = subprocess.Popen(
            [self.executable, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        running = threading.Event()
        self._reader = threading.Thread(
            target=self._drain, args=(self.process, running), daemon=True
        )
        self._reader.start()
        if not running.wait(timeout=10):
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port {self.port}: {self.log[-3:]}")

    def _drain(self, process: subprocess.Popen[bytes], running: threading.Event) -> None:
        """Read the broker's log until it exits, so its pipe never fills."""
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            if " running" in line:
                running.set()

    def kill(self) -> None:
        """kill -9 the broker."""
        if self.process is not None:
            self.process.kill()
            self._reap(self.process)

    def _reap(self, process: subprocess.Popen[bytes]) -> None:
        process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if process.stderr is not None:
            process.stderr.close()

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            self._reap(self.process)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A fresh Mosquitto for one test (its own port, no state shared between tests)."""
    broker = MosquittoProcess(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerBackend]:
    """A place for the test's ledger, once on SQLite and once on PostgreSQL (tests/ledgers.py)."""
    yield from make_backend(request.param, tmp_path)


@pytest.fixture
def pg_backend(tmp_path: Path) -> Iterator[LedgerBackend]:
    """A PostgreSQL ledger schema of the test's own (tests/ledgers.py)."""
    yield from make_backend("postgresql", tmp_path)


HANG_S = float(os.environ.get("TPESIM_TEST_HANG_S", "420"))
"""A test running longer than this is cancelled (it fails), with the await chain of every task
of its event loop in its captured stderr."""


def _await_chains(signum: int, frame: FrameType | None) -> None:
    """Write where every task of the running event loop waits, then cancel the test's own task
    (signal handler, main thread)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    tasks = asyncio.all_tasks(loop)
    lines = [f"{len(tasks)} tasks, test still running after {HANG_S:g} s:"]
    for task in tasks:
        lines.append(f"task {task.get_name()}")
        awaited: object = task.get_coro()
        while awaited is not None:
            code_frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
            if code_frame is not None:
                code = code_frame.f_code
                lines.append(f"  {code.co_filename}:{code_frame.f_lineno} {code.co_name}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    print("\n".join(lines), file=sys.stderr, flush=True)
    for task in tasks:
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and code.co_name.startswith("test_"):
            loop.call_soon_threadsafe(task.cancel)


@pytest.fixture(autouse=True)
def hang_report() -> Iterator[None]:
    """If the test outlives ``HANG_S``, report its tasks' await chains and cancel it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGUSR2, _await_chains)
    timer = threading.Timer(HANG_S, os.kill, (os.getpid(), signal.SIGUSR2))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR2, previous)
