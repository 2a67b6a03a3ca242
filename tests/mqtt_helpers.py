"""MQTT helpers for integration tests: watch topics on a real broker."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from wire.transport.base import BrokerUrl, Inbound
from wire.transport.mqtt import MqttTransport


@asynccontextmanager
async def observer(
    url: BrokerUrl, *filters: str
) -> AsyncIterator[tuple[MqttTransport, asyncio.Queue[Inbound]]]:
    """An MQTT client that queues everything published on ``filters``."""
    queue: asyncio.Queue[Inbound] = asyncio.Queue()
    async with MqttTransport(url, client_id=f"observer-{os.getpid()}-{id(queue)}") as client:
        for topic_filter in filters:
            await client.subscribe(topic_filter)

        async def pump() -> None:
            async for message in client.messages():
                await queue.put(message)

        task = asyncio.create_task(pump())
        try:
            yield client, queue
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def next_on(
    queue: asyncio.Queue[Inbound],
    topic: str | None,
    within: float = 10,
    *,
    where: Callable[[Inbound], bool] | None = None,
) -> Inbound:
    """The next message on ``topic`` (any topic: None) that ``where`` accepts, waiting at most
    ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            message = await queue.get()
            if topic in (None, message.topic) and (where is None or where(message)):
                return message
