"""A terminal's channel to the switch: its MQTT connection (Last Will ``offline``), the reader
that hands each response to the request it answers (by what it echoes: MTI pair, DE11, DE7,
DE41, DE3, DE4, DE90; wire.protocol.matching), the faulty link
(``terminal.link``) every message crosses, and reconnection after the connection is lost."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from terminal.link import Link
from terminal.records import TerminalError, TerminalStats
from wire.protocol import topics
from wire.protocol.codec import Encoding, FormatError, decode_response
from wire.protocol.matching import mismatch
from wire.protocol.messages import IsoMessage, Response
from wire.protocol.trace import TraceKind, trace_event
from wire.protocol.wallet import QrPaymentResult
from wire.tasks import wait_ended
from wire.transport import MqttClient, MqttTransport
from wire.transport.backoff import Backoff
from wire.transport.base import BrokerUrl, TransportError, WillMessage

__all__ = ["RECONNECT_S", "Channel"]

log = logging.getLogger("terminal")

RECONNECT_S = 15.0
"""How long a terminal keeps trying to reconnect before a transaction fails (a broker restart)."""
BACKOFF_S = (0.1, 1.0)
"""Reconnection delays: full jitter from 0.1 s doubling to at most 1 s
(wire.transport.backoff), so a fleet dropped by a broker restart does not return in step."""


@dataclass(frozen=True, eq=False)
class _Waiter:
    """A request sent and the future its answer will complete."""

    request: IsoMessage
    future: asyncio.Future[Response]


class Channel:
    """One terminal's request/response channel over MQTT."""

    def __init__(
        self,
        tid: str,
        broker: BrokerUrl,
        *,
        link: Link,
        stats: TerminalStats,
        status: Callable[[], bytes],
        now: Callable[[], datetime],
        encoding: Encoding = Encoding.JSON,
        rng: random.Random | None = None,
    ) -> None:
        """``status`` gives the retained status to announce on (re)connecting, ``now`` the
        terminal's time (for trace events); ``encoding`` is how its messages are written
        (their topics say it: wire.protocol.topics); ``rng`` draws the reconnection delays
        (default: seeded by ``tid``)."""
        self.encoding = encoding
        self.deadline: Callable[[float], AbstractAsyncContextManager[object]] = asyncio.timeout
        """The wait for an answer, given its seconds: ``asyncio.timeout`` on the loop's clock
        (a test hands in deadlines it passes itself: tests/deadlines.py)."""
        self.trace = True
        """Publish trace events on ``sim/trace/{tid}`` (QoS 0)."""
        self._now = now
        self._tracing: set[asyncio.Task[None]] = set()
        self.tid = tid
        self.broker = broker.login_as(tid)
        self.link = link
        self.stats = stats
        self._status = status
        self.backoff = Backoff(*BACKOFF_S, rng or random.Random(f"reconnect:{tid}"))  # noqa: S311
        self._transport = self._new_transport()
        self._pending: dict[tuple[str, int], list[_Waiter]] = {}
        """Requests waiting for their answer, by (response MTI, STAN): more than one when a
        STAN is reused while an earlier request under it still waits."""
        self._reader: asyncio.Task[None] | None = None
        self._in_transit: set[asyncio.Task[None]] = set()
        """Requests the link still carries (delayed, held or duplicated)."""
        self._qr_topic = topics.qr_notice(tid)
        self._qr_waiters: dict[str, asyncio.Future[QrPaymentResult]] = {}
        """Codes shown, by reference, waiting for their payment (switch.flows.qr_payments)."""

    def _new_transport(self) -> MqttTransport:
        return MqttClient(
            self.broker,
            client_id=f"tpe-{self.tid}",
            will=WillMessage(topics.status(self.tid), b"offline"),
        )

    @property
    def connected(self) -> bool:
        """Whether the MQTT connection is up (its reader still running)."""
        return self._reader is not None and not self._reader.done()

    async def connect(self) -> None:
        """Connect, subscribe to the responses, start reading, then announce the status: who
        sees ``online`` sees a terminal that reads its responses."""
        try:
            await self._transport.__aenter__()
            await self._transport.subscribe(topics.response(self.tid, self.encoding), qos=1)
            await self._transport.subscribe(self._qr_topic, qos=1)
        except TransportError as error:
            await self._transport.__aexit__(None, None, None)
            raise TerminalError(str(error)) from None
        self._reader = asyncio.create_task(self._read(), name=f"reader-{self.tid}")
        try:
            await self._transport.publish(topics.status(self.tid), self._status(), retain=True)
        except TransportError as error:
            await self.drop()
            raise TerminalError(str(error)) from None

    async def reconnect(self) -> None:
        """Connect again after the connection was lost, retrying for up to ``RECONNECT_S``
        (a broker restarting); TerminalError when the broker stays away."""
        await self.drop()
        deadline = time.monotonic() + RECONNECT_S
        self.backoff.reset()
        while True:
            self._transport = self._new_transport()
            try:
                await self.connect()
            except TerminalError:
                delay = self.backoff.next_delay()
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                continue
            log.info("%s reconnected to %s", self.tid, self.broker)
            self.stats.reconnects += 1
            return

    async def drop(self) -> None:
        """Forget the current connection, whatever state it is in."""
        if self._reader is not None:
            await wait_ended(self._reader, cancel=True, ignore=(TransportError,))
            self._reader = None
        await self._transport.__aexit__(None, None, None)

    async def abort(self) -> None:
        """Cut the connection with no DISCONNECT (the broker publishes the Last Will) and wait
        until the reader has seen it go."""
        self._transport.abort()
        if self._reader is not None:
            await wait_ended(self._reader, ignore=(TransportError,))

    async def close(self) -> None:
        """Say ``offline``, abandon what the link still carries, disconnect."""
        try:
            await self._transport.publish(topics.status(self.tid), b"offline", retain=True)
        except TransportError:
            log.debug("%s: could not publish offline status", self.tid)
        for carried in (*self._in_transit, *self._tracing):
            carried.cancel()
        await self.drop()

    async def announce(self, status: bytes) -> None:
        """Publish ``status`` on the retained status topic; TerminalError when offline."""
        try:
            await self._transport.publish(topics.status(self.tid), status, retain=True)
        except TransportError as error:
            raise TerminalError(str(error)) from None

    async def _read(self) -> None:
        async for inbound in self._transport.messages():
            if inbound.topic == self._qr_topic:
                self._qr_notice(inbound.payload)
                continue
            try:
                response = decode_response(inbound.payload, self.encoding)
            except FormatError as error:
                self.stats.unreadable_responses += 1
                log.warning("%s: unreadable response: %s", self.tid, error)
                continue
            deliveries = self.link.inbound()
            if not deliveries:
                log.info("%s: the link lost %r", self.tid, response)
                self._trace("lost", inbound.payload, ("lost on the link",))
            for delay in deliveries:
                if delay:
                    loop = asyncio.get_running_loop()
                    loop.call_later(delay, self._deliver, response, inbound.payload)
                else:
                    self._deliver(response, inbound.payload)

    def _qr_notice(self, payload: bytes) -> None:
        """The switch says a wallet paid the code this terminal shows: hand it to who waits."""
        try:
            paid = QrPaymentResult.model_validate_json(payload)
        except ValueError:
            log.warning("%s: unreadable QR payment notice", self.tid)
            return
        waiter = self._qr_waiters.pop(paid.qr_reference or "", None)
        if waiter is None or waiter.done():
            log.info("%s: QR payment %s of no code shown now", self.tid, paid.rrn)
            return
        waiter.set_result(paid)

    async def qr_payment(self, reference: str, timeout_s: float) -> QrPaymentResult | None:
        """The payment of the code with ``reference`` (``""``: the static code), or None when
        none comes within ``timeout_s``."""
        waiter: asyncio.Future[QrPaymentResult] = asyncio.get_running_loop().create_future()
        self._qr_waiters[reference] = waiter
        try:
            async with asyncio.timeout(timeout_s):
                return await waiter
        except TimeoutError:
            return None
        finally:
            self._qr_waiters.pop(reference, None)

    def _deliver(self, response: Response, payload: bytes) -> None:
        """Hand ``response`` to the request it answers. One nobody waits for is late; one
        that does not echo a waiting request's identity and money is stray (the stored answer
        to an earlier request under a reused STAN, say): both are ignored, and the request
        goes on waiting, then times out and is reversed as usual."""
        waiting = self._pending.get((response.mti, response.stan), [])
        why = "nothing waits for it"
        for waiter in waiting:
            why = mismatch(waiter.request, response) or ""
            if not why and not waiter.future.done():
                waiting.remove(waiter)
                self._trace("received", payload)
                waiter.future.set_result(response)
                return
        if not waiting:
            self.stats.late_responses += 1
            log.info("%s: late or unexpected %r ignored", self.tid, response)
            self._trace("late", payload, ("after the terminal gave up: ignored",))
            return
        self.stats.stray_responses += 1
        log.warning("%s: stray %r ignored: it does not answer the request waiting (%s)",
                    self.tid, response, why)  # fmt: skip
        self._trace("stray", payload, (f"answers another request ({why}): ignored",))

    def _trace(
        self,
        event: TraceKind,
        payload: bytes,
        notes: tuple[str, ...] = (),
        *,
        at: datetime | None = None,
    ) -> None:
        """Publish a trace event (QoS 0) without holding up the message it is about."""
        if not self.trace:
            return
        moment = at or self._now()
        body = trace_event("terminal", event, self.tid, payload, at=moment, notes=notes,
                           encoding=self.encoding)  # fmt: skip

        async def publish() -> None:
            try:
                await self._transport.publish(topics.trace(self.tid), body, qos=0)
            except TransportError as error:
                log.debug("%s: trace not published: %s", self.tid, error)

        task = asyncio.create_task(publish(), name=f"trace-{self.tid}")
        self._tracing.add(task)
        task.add_done_callback(self._tracing.discard)

    async def exchange(
        self, request: IsoMessage, payload: bytes, response_mti: str, timeout_s: float
    ) -> Response | None:
        """Send ``payload`` (the sealed ``request``) across the link; the matching response,
        or None after ``timeout_s`` (or at once when the connection is gone: it is lost)."""
        waiter = _Waiter(request, asyncio.get_running_loop().create_future())
        waiting = self._pending.setdefault((response_mti, request.stan), [])
        waiting.append(waiter)
        try:
            async with self.deadline(timeout_s):
                deliveries = self.link.outbound()
                if not deliveries:
                    self._trace("lost", payload, ("lost on the link",))
                for delay in deliveries:
                    if delay:
                        self._carry(request, payload, delay)
                    else:
                        await self._publish(request, payload)
                return await waiter.future
        except TimeoutError:
            self._trace("timeout", payload, (f"no answer within {timeout_s:g} s",))
            return None
        except TransportError as error:
            log.warning("%s: %r lost: %s", self.tid, request, error)
            return None
        finally:
            if waiter in waiting:
                waiting.remove(waiter)
            if not waiting:
                self._pending.pop((response_mti, request.stan), None)

    async def send(self, request: IsoMessage, payload: bytes) -> None:
        """Publish ``payload`` straight away, past the link's faults, waiting for nothing."""
        try:
            await self._publish(request, payload)
        except TransportError as error:
            log.info("%s: %r lost: %s", self.tid, request, error)

    async def _publish(self, request: IsoMessage, payload: bytes) -> None:
        sent_at = self._now()  # before it leaves: the trace orders by time
        await self._transport.publish(
            topics.request(self.tid, self.encoding),
            payload,
            qos=1,
            response_topic=topics.response(self.tid, self.encoding),
            correlation=f"{request.stan:06d}".encode(),
            content_type=self.encoding.content_type,
        )
        self.stats.sent += 1
        self._trace("sent", payload, at=sent_at)

    def _carry(self, request: IsoMessage, payload: bytes, delay: float) -> None:
        """Publish ``payload`` after ``delay`` seconds, whether or not anyone still waits for
        its answer (a slow, held or duplicated message)."""

        async def later() -> None:
            await asyncio.sleep(delay)
            try:
                await self._publish(request, payload)
            except TransportError as error:
                log.info("%s: a delayed %r was lost: %s", self.tid, request, error)

        task = asyncio.create_task(later(), name=f"link-{self.tid}-{request.stan:06d}")
        self._in_transit.add(task)
        task.add_done_callback(self._in_transit.discard)

    async def delivered(self) -> None:
        """Wait until the link has delivered everything it still carries."""
        while self._in_transit:
            await asyncio.gather(*self._in_transit, return_exceptions=True)
