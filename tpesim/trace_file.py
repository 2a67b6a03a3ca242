"""Write every trace event of a run to a JSON Lines file, as the broker delivers them.

Each line is one event of ``sim/trace/{tid}`` (docs/protocol.md): the message at that hop with
the PAN masked and PIN block, track 2, CVV2 and chip data redacted. The file is what a trainer
replays and what QA greps; a ladder is the events of one transaction ordered by ``at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from wire.protocol import topics
from wire.tasks import wait_ended
from wire.transport import MqttClient
from wire.transport.base import BrokerUrl, TransportError
from wire.transport.url import OPERATOR_LOGIN

__all__ = ["QUIET_S", "recording_traces"]

log = logging.getLogger(__name__)

QUIET_S = 0.2
"""At the end, events (QoS 0) still on their way are awaited until none came for this long."""
_DRAIN_MAX_S = 3.0


@contextlib.asynccontextmanager
async def recording_traces(broker: BrokerUrl, path: Path, client_id: str) -> AsyncIterator[None]:
    """Append every trace event to ``path`` while the block runs (subscribed before it starts;
    TransportError if the broker does not answer)."""
    arrived = asyncio.Event()
    async with MqttClient(broker.login_as(OPERATOR_LOGIN), client_id=client_id) as transport:
        await transport.subscribe(topics.TRACE_FILTER, qos=0)
        with path.open("ab") as out:

            async def record() -> None:
                try:
                    async for inbound in transport.messages():
                        out.write(inbound.payload.rstrip(b"\n") + b"\n")
                        arrived.set()
                except TransportError as error:
                    log.warning("trace file %s: %s; later events are not in it", path, error)

            recorder = asyncio.create_task(record(), name=f"traces-{path.name}")
            try:
                yield
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_DRAIN_MAX_S):
                        while True:
                            arrived.clear()
                            try:
                                async with asyncio.timeout(QUIET_S):
                                    await arrived.wait()
                            except TimeoutError:
                                break
            finally:
                await wait_ended(recorder, cancel=True)
