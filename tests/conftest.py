"""Shared fixtures: a real Mosquitto broker on a free port, and a temporary ledger path."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.transport.base import BrokerUrl
from tpesim.broker import find_mosquitto, free_port, mosquitto_config


class MosquittoProcess:
    """A Mosquitto child process listening on 127.0.0.1:``port``."""

    def __init__(self, workdir: Path) -> None:
        executable = find_mosquitto()
        if executable is None:
            pytest.fail("integration tests need mosquitto (apt-get install mosquitto)")
        self.executable = executable
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(mosquitto_config(self.port), encoding="utf-8")
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
