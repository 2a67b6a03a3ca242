"""The switch a scenario runs against: in this process (the default), or as a ``tpesim switch``
child process that a scenario can kill -9 and start again (``switch_kill_after`` in a burst)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from switch.rules.issuers import IssuerState
from switch.service import SwitchService
from tpesim.scenario.watch import StatusWatch
from wire.transport.base import BrokerUrl

__all__ = ["InProcessSwitch", "SwitchHandle", "SwitchProcess", "switch_process"]

log = logging.getLogger("tpesim.scenario")


class SwitchHandle(Protocol):
    """What scenario steps do to the switch."""

    async def set_issuer(self, issuer: str, state: IssuerState, latency_s: float) -> str:
        """Apply an issuer fault; the step's verdict (``replayed:N`` when brought up)."""
        ...

    def mark(self) -> int:
        """A marker of the switch's current session, for :meth:`serving_after`."""
        ...

    async def serving_after(self, mark: int) -> None:
        """Wait until the switch serves on a session newer than ``mark`` (it reconnected)."""
        ...

    async def kill_and_restart(self) -> None:
        """kill -9 the switch and start it again on the same ledger."""
        ...


class InProcessSwitch:
    """The switch running in this process (it cannot be killed)."""

    def __init__(self, service: SwitchService) -> None:
        self.service = service

    async def set_issuer(self, issuer: str, state: IssuerState, latency_s: float) -> str:
        replayed = await self.service.processor.set_issuer(issuer, state, latency_s)
        return f"replayed:{replayed}" if state is IssuerState.UP else "done"

    def mark(self) -> int:
        return self.service.sessions

    async def serving_after(self, mark: int) -> None:
        await self.service.serving_after(mark)

    async def kill_and_restart(self) -> None:
        raise RuntimeError("the in-process switch cannot be killed")


class SwitchProcess:
    """``tpesim switch`` as a child process with a persistent MQTT session, so requests sent
    while it is down wait in the broker; its liveness is read on ``switch/status``."""

    def __init__(self, broker: BrokerUrl, db: Path, log_path: Path, watch: StatusWatch) -> None:
        self.broker = broker
        self.db = db
        self.log_path = log_path
        self.watch = watch
        self.client_id = f"tpesim-scenario-switch-{id(self):x}"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        """Start the child and wait until it says ``online``."""
        with self.log_path.open("ab") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tpesim", "switch", "--broker", str(self.broker),
                "--db", str(self.db), "--client-id", self.client_id,
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        self.starts += 1
        if await self.watch.wait_for("switch", "online", 30.0) != "online":
            raise RuntimeError(f"the switch process did not come online (see {self.log_path})")

    async def kill_and_restart(self) -> None:
        if self.process is not None:
            self.process.kill()
            await self.process.wait()
        await self.watch.wait_for("switch", "offline", 10.0)  # its Last Will
        log.warning("switch process killed (-9); starting it again")
        await self.start()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def set_issuer(self, issuer: str, state: IssuerState, latency_s: float) -> str:
        raise RuntimeError("issuer steps need the in-process switch (no switch kill)")

    def mark(self) -> int:
        return self.starts

    async def serving_after(self, mark: int) -> None:
        """After a broker restart: the child reconnects by itself; wait for its ``online``."""
        await self.watch.wait_for("switch", "online", 30.0)


@contextlib.asynccontextmanager
async def switch_process(
    broker: BrokerUrl, db: Path, log_path: Path, watch: StatusWatch
) -> AsyncIterator[SwitchProcess]:
    """A running :class:`SwitchProcess`, stopped (SIGTERM) on exit."""
    child = SwitchProcess(broker, db, log_path, watch)
    watch.latest.pop("switch", None)
    try:
        await child.start()
        yield child
    finally:
        await child.stop()
