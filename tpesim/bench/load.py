"""The bench's load generator: purchases sent over MQTT, closed loop (a fixed number in
flight) or open loop (a fixed schedule), each answer timed as the generator sees it, from
publish (or from when it was due) to response, in milliseconds. It runs in a process of its own
by default, so the service measured has its process to itself (``tpesim bench switch``)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from tpesim.bench.crypto import percentile
from wire.protocol import topics
from wire.transport import CLIENTS
from wire.transport.base import BrokerUrl
from wire.transport.mqtt import MqttTransport

__all__ = ["LoadGenerator", "Pace", "PathRun", "Sent"]

_STAN = re.compile(rb'"11":\s*"(\d{6})"')
_CODE = re.compile(rb'"39":\s*"(\w\w)"')


@dataclass
class PathRun:
    """One path's run: how many requests, how long, each one's latency (ms), the answers."""

    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    codes: Counter[str] = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


class _Answers:
    """Requests in flight by (terminal id, STAN), each with its start time (perf_counter, s);
    an answer's latency (ms) and response code are recorded as it arrives; ``all_in`` is set
    once ``expected`` answers have."""

    def __init__(self, expected: int) -> None:
        self.started: dict[tuple[str, bytes], float] = {}
        self.waiting: dict[tuple[str, bytes], asyncio.Future[None]] = {}
        self.latencies: list[float] = []
        self.codes: Counter[str] = Counter()
        self.all_in = asyncio.Event()
        self.expected = expected

    def sent(self, tid: str, payload: bytes, at: float) -> asyncio.Future[None]:
        """Record a request started at ``at``; the future is done when its answer arrives."""
        stan = _STAN.search(payload)
        assert stan is not None
        key = tid, stan.group(1)
        self.started[key] = at
        answer = self.waiting[key] = asyncio.get_running_loop().create_future()
        return answer

    async def pump(self, client: MqttTransport) -> None:
        async for inbound in client.messages():
            stan = _STAN.search(inbound.payload)
            key = (inbound.topic.split("/")[1], stan.group(1)) if stan else None
            if key is None or key not in self.waiting:
                continue
            self.latencies.append((time.perf_counter() - self.started.pop(key)) * 1000)
            code = _CODE.search(inbound.payload)
            self.codes[code.group(1).decode() if code else "echo"] += 1
            self.waiting.pop(key).set_result(None)
            if len(self.latencies) == self.expected:
                self.all_in.set()


@dataclass(frozen=True)
class Pace:
    """How the load is sent: closed loop with ``concurrency`` requests in flight, or, given a
    ``rate`` (requests/s), open loop: each request is due at its place in a fixed schedule
    whatever the answers, and its latency counts from when it was due (a late send is the
    service's delay, not hidden)."""

    concurrency: int
    rate: float | None = None


async def _load(broker: BrokerUrl, name: str, requests: Sent, pace: Pace, mqtt: str) -> PathRun:
    """Send ``requests`` (terminal id, payload) at ``pace`` and time their answers."""
    answers = _Answers(len(requests))
    async with CLIENTS[mqtt](broker, client_id=f"bench-load-{os.getpid()}") as client:
        await client.subscribe(topics.response("+"), qos=1)
        feeder = iter(requests)

        async def closed_loop() -> None:
            for tid, payload in feeder:
                answer = answers.sent(tid, payload, time.perf_counter())
                await client.publish(topics.request(tid), payload, qos=1)
                async with asyncio.timeout(30):
                    await answer

        async def open_loop(per_second: float) -> None:
            for sent, (tid, payload) in enumerate(feeder):
                due = began + sent / per_second
                if (ahead := due - time.perf_counter()) > 0:
                    await asyncio.sleep(ahead)  # pacing the schedule, not waiting on a result
                answers.sent(tid, payload, due)
                await client.publish(topics.request(tid), payload, qos=1)
            async with asyncio.timeout(30):
                await answers.all_in.wait()

        pumping = asyncio.create_task(answers.pump(client))
        began = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as group:
                if pace.rate is not None:
                    group.create_task(open_loop(pace.rate))
                else:
                    for _ in range(pace.concurrency):
                        group.create_task(closed_loop())
        finally:
            pumping.cancel()
        seconds = time.perf_counter() - began
    return PathRun(name, len(requests), seconds, answers.latencies, answers.codes)


Sent = list[tuple[str, bytes]]
"""Requests to send: (terminal id, wire payload)."""


def _load_in_process(
    broker: BrokerUrl, name: str, requests: Sent, pace: Pace, mqtt: str
) -> PathRun:
    """:func:`_load` in a process of its own (its own interpreter and event loop)."""
    return asyncio.run(_load(broker, name, requests, pace, mqtt))


class LoadGenerator:
    """Where the load runs: a separate process (the default: the service measured has this
    process to itself), or this event loop (``separate=False``)."""

    def __init__(self, broker: BrokerUrl, concurrency: int, *, separate: bool, mqtt: str) -> None:
        self.broker, self.concurrency, self.mqtt = broker, concurrency, mqtt
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(1, mp_context=context) if separate else None

    async def run(
        self, name: str, requests: Sent, concurrency: int | None = None, rate: float | None = None
    ) -> PathRun:
        """Closed loop at ``concurrency`` (default: the bench's), or open loop at ``rate``/s."""
        pace = Pace(concurrency or self.concurrency, rate)
        if self._pool is None:
            return await _load(self.broker, name, requests, pace, self.mqtt)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, _load_in_process, self.broker, name, requests, pace, self.mqtt
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
