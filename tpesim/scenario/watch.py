"""Watching the terminals' retained status topics during a scenario run (``status`` steps)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from wire.protocol import topics
from wire.tasks import wait_ended
from wire.transport import MqttClient
from wire.transport.base import BrokerUrl, TransportError
from wire.transport.url import OPERATOR_LOGIN

__all__ = ["StatusWatch", "watching"]


class StatusWatch:
    """The latest status each terminal published (``online``, ``offline`` from its Last Will,
    ``degraded:...``), and the switch's (key ``switch``), kept up to date by a subscriber that
    reconnects after a broker restart."""

    def __init__(self, broker: BrokerUrl, client_id: str) -> None:
        self.broker = broker.login_as(OPERATOR_LOGIN)
        self.client_id = client_id
        self.latest: dict[str, str] = {}
        self._changed = asyncio.Event()
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        """Follow ``tpe/+/status`` until cancelled."""
        while True:
            try:
                async with MqttClient(self.broker, client_id=self.client_id) as transport:
                    await transport.subscribe(topics.status("+"), qos=1)
                    await transport.subscribe(topics.SWITCH_STATUS, qos=1)
                    self.subscribed.set()
                    async for message in transport.messages():
                        key = (
                            "switch"
                            if message.topic == topics.SWITCH_STATUS
                            else message.topic.split("/")[1]
                        )
                        self.latest[key] = message.payload.decode("utf-8", "replace")
                        self._changed.set()
            except TransportError:
                await asyncio.sleep(0.2)  # the broker is restarting: follow it back

    async def wait_for(self, tid: str, wanted: str, within_s: float) -> str:
        """``tid``'s status once it reads ``wanted``, or whatever it reads after ``within_s``."""
        deadline = time.monotonic() + within_s
        while self.latest.get(tid) != wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        return self.latest.get(tid, "none")


@contextlib.asynccontextmanager
async def watching(broker: BrokerUrl, client_id: str) -> AsyncIterator[StatusWatch]:
    """A running :class:`StatusWatch`, subscribed before this yields."""
    watch = StatusWatch(broker, client_id)
    task = asyncio.create_task(watch.run(), name="status-watch")
    try:
        async with asyncio.timeout(15):
            await watch.subscribed.wait()
        yield watch
    finally:
        await wait_ended(task, cancel=True)
