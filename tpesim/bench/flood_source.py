"""A hostile terminal for ``tpesim bench flood``: one TID publishing the same few payloads over
and over at a fixed rate, from a process of its own (as an attacker would, from its own machine),
so its sending costs neither the switch nor the load generator measuring the others."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

from wire.protocol import topics
from wire.transport import CLIENTS
from wire.transport.base import BrokerUrl

__all__ = ["Flood", "FloodCount", "flooding"]

TICK_S = 0.01
"""The flood's pacing step: every 10 ms it sends what its rate says is due."""

CONNECT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Flood:
    """``tid`` sending ``payloads`` in turn at ``per_second`` messages/s, QoS 0, on its own
    connection."""

    tid: str
    per_second: float
    payloads: tuple[bytes, ...]


@dataclass
class FloodCount:
    """What the flood did, known once :func:`flooding` has ended: ``sent`` messages in
    ``seconds`` from its first to its stop."""

    sent: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Shared:
    """What the flood process and its starter share: ``started`` once connected, ``stop`` to
    end it, and what it did (:class:`FloodCount`'s fields)."""

    started: Event
    stop: Event
    sent: Synchronized[int]
    seconds: Synchronized[float]


async def _send(broker: BrokerUrl, flood: Flood, mqtt: str, shared: _Shared) -> None:
    async with CLIENTS[mqtt](broker, client_id=f"bench-flood-{flood.tid}") as client:
        shared.started.set()
        topic = topics.request(flood.tid)
        began, sent = time.perf_counter(), 0
        while not shared.stop.is_set():
            due = int((time.perf_counter() - began) * flood.per_second)
            for _ in range(due - sent):
                await client.publish(topic, flood.payloads[sent % len(flood.payloads)], qos=0)
                sent += 1
            await asyncio.sleep(TICK_S)  # pacing the flood, not waiting on a result
    shared.sent.value, shared.seconds.value = sent, time.perf_counter() - began


def _flood_process(broker: BrokerUrl, flood: Flood, mqtt: str, shared: _Shared) -> None:
    asyncio.run(_send(broker, flood, mqtt, shared))


def _wait_connected(started: Event, process: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while not started.wait(0.2):
        if not process.is_alive():
            raise RuntimeError(f"the flood process ended (exit code {process.exitcode})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the flood did not connect within {CONNECT_TIMEOUT_S:g} s")


@contextlib.asynccontextmanager
async def flooding(broker: BrokerUrl, flood: Flood, mqtt: str) -> AsyncIterator[FloodCount]:
    """Run ``flood`` in its own process while the block runs: connected before the block
    starts, stopped when it ends; the count it sent is in the yielded :class:`FloodCount`."""
    context = multiprocessing.get_context("spawn")
    shared = _Shared(
        context.Event(), context.Event(), context.Value("q", 0), context.Value("d", 0.0)
    )
    process = context.Process(
        target=_flood_process, args=(broker, flood, mqtt, shared), daemon=True
    )
    process.start()
    loop = asyncio.get_running_loop()
    count = FloodCount()
    try:
        await loop.run_in_executor(None, _wait_connected, shared.started, process)
        yield count
    finally:
        shared.stop.set()
        await loop.run_in_executor(None, process.join, 10.0)
        if process.is_alive():
            process.kill()
        count.sent, count.seconds = int(shared.sent.value), float(shared.seconds.value)
