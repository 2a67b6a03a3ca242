"""The switch's MQTT shell: receive requests, hand them to the Processor, publish replies.

Thin on purpose. A fixed pool of worker tasks takes requests from a bounded queue in arrival
order, so many terminals are served at once (the Processor keeps each terminal's and each
card's requests in order) without a task per message; a full queue stops reading from the
broker. It keeps a persistent session (fixed client id, clean session off) so that requests
published while the switch is down are delivered when it comes back, publishes its liveness on
``switch/status`` (Last Will ``offline``), and reconnects with backoff when the broker goes
away.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time as time_module
from datetime import datetime

from switch.processor import Processor, Reply
from switch.rules.admission import RateLimit, TerminalAdmission
from switch.rules.issuers import parse_issuer_command
from wire.protocol import topics
from wire.protocol.codec import Encoding, encoding_of_content_type
from wire.protocol.trace import TraceKind, trace_event
from wire.transport import MqttClient, MqttTransport
from wire.transport.backoff import Backoff
from wire.transport.base import BrokerUrl, Inbound, TransportError, WillMessage
from wire.transport.url import SWITCH_LOGIN

__all__ = [
    "BACKOFF_S",
    "RESTART_DOWN_S",
    "WORKERS",
    "SwitchService",
    "restart_pause",
]

log = logging.getLogger("switch")

BACKOFF_S = (0.2, 5.0)
"""Reconnection delays after the broker goes: full jitter from 0.2 s doubling to at most 5 s
(wire.transport.backoff)."""
WORKERS = 64
"""Requests the switch works on at once, by default."""
DEFAULT_LIMIT = RateLimit()
"""What a terminal may send, by default (switch.rules.admission)."""
_REFUSED = frozenset({"30", "63"})
"""Answers that refuse a message, format error or security violation: they cost the terminal
more of its rate limit (switch.rules.admission.REFUSAL_COST)."""
RESTART_DOWN_S = 3.0
"""How long a switch told to ``restart`` stays away, by default (seconds)."""


class _RestartError(Exception):
    """An operator asked the switch to restart: away ``down_s`` seconds, then back."""

    def __init__(self, down_s: float) -> None:
        super().__init__(f"restart, away {down_s:g} s")
        self.down_s = down_s


def restart_pause(command: bytes) -> float | None:
    """How long ``restart`` / ``restart:SECONDS`` keeps the switch away (None: not that)."""
    word, _, seconds = command.decode("utf-8", "replace").strip().partition(":")
    if word != "restart":
        return None
    try:
        down_s = float(seconds) if seconds else RESTART_DOWN_S
    except ValueError:
        return None
    return down_s if 0 <= down_s <= 300 else None


class SwitchService:
    """The switch process: one MQTT connection serving every terminal's requests in order."""

    def __init__(
        self,
        processor: Processor,
        broker: BrokerUrl,
        *,
        client_id: str = "tpesim-switch",
        shared: bool = False,
        persistent: bool = True,
        workers: int = WORKERS,
        client: type[MqttTransport] = MqttClient,
        rate_limit: RateLimit | None = DEFAULT_LIMIT,
        rng: random.Random | None = None,
    ) -> None:
        """``persistent`` False: a clean session, for a switch that will not be restarted
        (scenario runs), so the broker keeps nothing for it once it has gone. ``workers``:
        requests worked on at once (1: strictly one after the other). ``client``: the MQTT
        client implementation (wire.transport.CLIENTS). ``rate_limit``: what each terminal
        may send before its messages are dropped unread (None: no limit). ``rng`` draws the
        reconnection delays (default: seeded by ``client_id``)."""
        self.client = client
        self.admission = (
            TerminalAdmission(rate_limit, time_module.monotonic) if rate_limit else None
        )
        """The per-terminal rate limit, and what it dropped."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        self.persistent = persistent
        self.trace = True
        """Publish trace events on ``sim/trace/{tid}`` (QoS 0)."""
        self.sessions = 0
        """How many times the switch has connected and subscribed (1 + reconnections)."""
        self._session_started = asyncio.Event()
        self.processor = processor
        self.broker = broker.login_as(SWITCH_LOGIN)
        self.client_id = client_id
        self.shared = shared
        self.owner_note = b""
        """What ``switch/owner`` says while this switch serves: who, alone or shared, and its
        ledger (switch.startup)."""
        self.connected = asyncio.Event()
        self.backoff = Backoff(*BACKOFF_S, rng or random.Random(f"reconnect:{client_id}"))  # noqa: S311

    def __repr__(self) -> str:
        state = "connected" if self.connected.is_set() else "disconnected"
        return f"<SwitchService {self.client_id} {self.broker} {state}>"

    async def serving_after(self, sessions: int, within_s: float = 30.0) -> None:
        """Wait until the switch serves on a session newer than its ``sessions``-th (it has
        reconnected after a broker restart); TimeoutError after ``within_s``."""
        async with asyncio.timeout(within_s):
            while self.sessions <= sessions or not self.connected.is_set():
                self._session_started.clear()
                await self._session_started.wait()

    async def run(self) -> None:
        """Serve until cancelled, reconnecting to the broker when the connection drops."""
        while True:
            try:
                await self._serve_once()
                error: Exception = TransportError(f"{self.broker} ended the message stream")
            except TransportError as lost:
                error = lost
            except _RestartError as restart:
                self.connected.clear()
                log.warning("switch: restarting on an operator's command, back in %.1f s",
                            restart.down_s)  # fmt: skip
                await asyncio.sleep(restart.down_s)
                self.backoff.reset()
                continue
            if self.connected.is_set():
                self.backoff.reset()  # it was up: start again from the shortest window
            self.connected.clear()
            delay = self.backoff.next_delay()
            log.warning("switch: %s; reconnecting in %.1f s", error, delay)
            await asyncio.sleep(delay)

    async def _serve_once(self) -> None:
        will = WillMessage(topics.SWITCH_STATUS, b"offline")
        transport = self.client(
            self.broker, client_id=self.client_id, will=will, persistent=self.persistent
        )
        async with transport:
            request_filters = (
                (topics.SHARED_REQUEST_FILTER, topics.SHARED_ISO8583_REQUEST_FILTER,
                 topics.SHARED_WALLET_PAY_FILTER)
                if self.shared
                else (topics.REQUEST_FILTER, topics.ISO8583_REQUEST_FILTER,
                      topics.WALLET_PAY_FILTER)
            )  # fmt: skip
            for request_filter in request_filters:
                await transport.subscribe(request_filter, qos=1)
            await transport.subscribe(topics.ISSUER_CONTROL_FILTER, qos=1)
            await transport.subscribe(topics.SWITCH_CONTROL, qos=1)
            # Connected before it says so: whoever sees ``online`` sees a switch that serves.
            self.connected.set()
            self.sessions += 1
            self._session_started.set()
            await transport.publish(topics.SWITCH_STATUS, b"online", retain=True)
            # Who serves, alone or as a --shared worker (and on which ledger).
            await transport.publish(topics.SWITCH_OWNER, self.owner_note, retain=True)
            log.info(
                "switch online on %s (MQTT v%d), serving %s",
                self.broker,
                transport.protocol_version,
                request_filter,
            )
            requests: asyncio.Queue[Inbound] = asyncio.Queue(self.workers * 2)
            workers = [
                asyncio.create_task(self._work(transport, requests), name=f"switch-worker-{n}")
                for n in range(self.workers)
            ]
            try:
                async for inbound in transport.messages():
                    if not inbound.topic.startswith(topics.CONTROL_PREFIX):
                        if self._admitted(inbound.topic):
                            await requests.put(inbound)
                        continue
                    await requests.join()  # a command applies between requests, as they came
                    if inbound.topic == topics.SWITCH_CONTROL:
                        down_s = restart_pause(inbound.payload)
                        if down_s is None:
                            log.warning("switch: ignored control %r", inbound.payload[:40])
                            continue
                        self.connected.clear()
                        await self._say_offline(transport)
                        raise _RestartError(down_s)
                    await self._control(transport, inbound)
            except asyncio.CancelledError:
                self.connected.clear()
                await asyncio.shield(self._say_offline(transport))
                raise
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    def _admitted(self, topic: str) -> bool:
        """Whether to read a message on ``topic``: its terminal is within its rate limit (a
        topic naming no terminal is read, and refused by the Processor)."""
        tid = topics.terminal_of_request_topic(topic)
        return self.admission is None or tid is None or self.admission.admit(tid)

    async def _work(self, transport: MqttTransport, requests: asyncio.Queue[Inbound]) -> None:
        """One worker: take the next request, process it, publish its trace and its answer."""
        while True:
            inbound = await requests.get()
            try:
                wallet = topics.wallet_of_topic(inbound.topic)
                if wallet is not None:
                    await self._wallet_payment(transport, wallet, inbound.payload)
                    continue
                received_at = self.processor.clock.now()
                encoding = _encoding(inbound)
                reply = await self.processor.process(inbound.topic, inbound.payload, encoding)
                if reply is not None and reply.response_code in _REFUSED and self.admission:
                    self.admission.refused(reply.tid)
                if reply is not None and self.trace:
                    await self._trace(transport, inbound, reply, received_at, encoding)
                if reply is not None and reply.send:
                    await self._publish(transport, inbound, reply, encoding)
            except TransportError as error:
                # The broker refused it, or the connection is going: the terminal repeats and
                # gets the stored answer.
                log.warning("switch: an answer was not published: %s", error)
            except Exception:
                log.exception("switch: a request on %s was not answered", inbound.topic[:80])
            finally:
                requests.task_done()

    async def _wallet_payment(self, transport: MqttTransport, wallet: str, payload: bytes) -> None:
        """A wallet app's QR payment: decided (switch.flows.qr_payments), answered to the app and,
        when paid, told to the terminal whose code was scanned (for its receipt)."""
        received_at = self.processor.clock.now()
        result = await self.processor.qr.pay_payload(wallet, payload)
        body = result.model_dump_json().encode()
        await transport.publish(topics.wallet_result(wallet), body)
        if result.paid and result.tid is not None:
            await transport.publish(topics.qr_notice(result.tid), body)
        if self.trace and result.tid is not None:
            # The dashboard shows the payment on the paid terminal's ladder.
            view = result.trace_view()
            answered = "account to account, posted at once" if result.paid else result.reason
            bodies = (
                trace_event("switch", "received", result.tid, view, at=received_at,
                            notes=(f"from wallet {wallet}",)),
                trace_event("switch", "answered", result.tid, view,
                            at=self.processor.clock.now(), notes=(answered,),
                            reason=result.reason),
            )  # fmt: skip
            await self._publish_traces(transport, result.tid, bodies)

    async def _control(self, transport: MqttTransport, inbound: Inbound) -> None:
        """``sim/control/issuer/{issuer}``: ``up``, ``down`` or ``slow:SECONDS`` (a fault);
        once applied, the retained ``sim/issuer/{issuer}/status`` says so."""
        issuer = inbound.topic.rsplit("/", 1)[-1]
        text = inbound.payload.decode("utf-8", "replace").strip()
        try:
            state, latency = parse_issuer_command(text)
            await self.processor.set_issuer(issuer, state, latency)
        except ValueError as error:
            log.warning("switch: ignored control %r on %s: %s", text[:40], inbound.topic, error)
            return
        try:
            await transport.publish(topics.issuer_status(issuer), text.encode(), retain=True)
        except TransportError as error:  # refused, or the connection is going: the stream says
            log.warning("switch: issuer %s is %s, but its status was not published: %s",
                        issuer, text[:40], error)  # fmt: skip

    async def _trace(
        self,
        transport: MqttTransport,
        inbound: Inbound,
        reply: Reply,
        received_at: datetime,
        encoding: Encoding,
    ) -> None:
        """Trace events (QoS 0): the request received, and the answer with what it posted,
        who decided it and why."""
        answered: TraceKind = "answered" if reply.send else "lost"
        notes = reply.effects + (() if reply.send else ("not sent: forced silence",))
        bodies = (
            trace_event(
                "switch", "received", reply.tid, inbound.payload, at=received_at, encoding=encoding
            ),
            trace_event(
                "switch",
                answered,
                reply.tid,
                reply.payload,
                at=self.processor.clock.now(),
                notes=notes,
                route=reply.route,
                reason=reply.reason,
                encoding=encoding,
                view=reply.view,
            ),
        )
        await self._publish_traces(transport, reply.tid, bodies)

    @staticmethod
    async def _publish_traces(
        transport: MqttTransport, tid: str, bodies: tuple[bytes, ...]
    ) -> None:
        """Trace events on ``sim/trace/{tid}`` (QoS 0): one that cannot go out is let go."""
        for body in bodies:
            try:
                await transport.publish(topics.trace(tid), body, qos=0)
            except TransportError as error:
                log.debug("switch: trace not published: %s", error)

    async def _say_offline(self, transport: MqttTransport) -> None:
        try:
            await transport.publish(topics.SWITCH_STATUS, b"offline", retain=True)
            if self.owner_note and not self.shared:  # other workers may still serve
                await transport.publish(topics.SWITCH_OWNER, b"", retain=True)
        except TransportError as error:
            log.debug("switch: could not publish offline status: %s", error)

    @staticmethod
    async def _publish(
        transport: MqttTransport, inbound: Inbound, reply: Reply, encoding: Encoding
    ) -> None:
        """The answer on the sender's response topic for the topic it used (``…/iso8583`` for
        ``…/req/iso8583``), with its Content Type on MQTT 5."""
        topic = topics.response(reply.tid, topics.encoding_of_topic(inbound.topic))
        # MQTT 5: honour the Response Topic, but only inside the sender's own topic tree.
        if inbound.response_topic and inbound.response_topic.startswith(f"tpe/{reply.tid}/"):
            topic = inbound.response_topic
        await transport.publish(
            topic,
            reply.payload,
            qos=1,
            correlation=inbound.correlation,
            content_type=encoding.content_type,
        )


def _encoding(inbound: Inbound) -> Encoding:
    """A request's encoding: its topic's (``…/req/iso8583``), else its MQTT 5 Content Type's,
    else JSON."""
    by_topic = topics.encoding_of_topic(inbound.topic)
    if by_topic is Encoding.ISO8583:
        return by_topic
    return encoding_of_content_type(inbound.content_type) or Encoding.JSON
