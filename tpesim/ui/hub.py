"""The dashboard's live state, fed by the broker: terminal, switch and issuer statuses (from
their retained topics) and every transaction (from ``sim/trace/#``), pushed to each open page
as server-sent events. Also where the fault buttons publish their ``sim/control`` commands.

Works against any running system: it only subscribes and publishes. The ledger, when given
(the switch runs in this process), adds balances and the day's settlement position.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from switch.ledger.reads import LedgerReads
from tpesim.ui.ladder import Transaction, TransactionBook
from wire.protocol import topics
from wire.protocol.trace import TraceEvent
from wire.transport import MqttClient, MqttTransport
from wire.transport.base import BrokerUrl, Inbound, TransportError
from wire.transport.url import OPERATOR_LOGIN

__all__ = ["HubUnavailableError", "LiveHub"]

log = logging.getLogger("tpesim.ui")

_RETRY_S = 1.0
_QUEUE = 1000
"""Events buffered per open page; a page that falls this far behind is dropped (it reloads)."""
_ISSUER_STATUS = "sim/issuer/+/status"


class HubUnavailableError(RuntimeError):
    """The hub is not connected to the broker: a command cannot be published now."""


class LiveHub:
    """Statuses and transactions as the broker reports them; one queue per open page."""

    def __init__(
        self,
        broker: BrokerUrl,
        *,
        ledger: LedgerReads | None = None,
        capacity: int = 500,
        client_id: str = "tpesim-dashboard",
    ) -> None:
        self.broker = broker.login_as(OPERATOR_LOGIN)
        self.ledger = ledger
        self.client_id = client_id
        self.book = TransactionBook(capacity)
        self.terminals: dict[str, str] = {}
        """TID → its retained status: ``online``, ``offline``, ``degraded:<reason>``."""
        self.issuers: dict[str, str] = {}
        self.switch = "unknown"
        self.connected = asyncio.Event()
        self._transport: MqttTransport | None = None
        self._pages: set[asyncio.Queue[str | None]] = set()

    async def run(self) -> None:
        """Follow the broker until cancelled, reconnecting when it goes away."""
        while True:
            try:
                async with MqttClient(self.broker, client_id=self.client_id) as transport:
                    for topic_filter in (topics.status("+"), topics.SWITCH_STATUS,
                                         _ISSUER_STATUS, topics.TRACE_FILTER):  # fmt: skip
                        await transport.subscribe(topic_filter, qos=0)
                    self._transport = transport
                    self.connected.set()
                    async for inbound in transport.messages():
                        self._take(inbound)
            except TransportError as error:
                log.warning("dashboard: %s; reconnecting in %.0f s", error, _RETRY_S)
            finally:
                self._transport = None
                self.connected.clear()
            await asyncio.sleep(_RETRY_S)

    def _take(self, inbound: Inbound) -> None:
        topic, text = inbound.topic, inbound.payload.decode("utf-8", "replace")
        parts = topic.split("/")
        if topic.startswith("sim/trace/"):
            try:
                event = TraceEvent.model_validate_json(inbound.payload)
            except ValidationError:
                log.debug("dashboard: ignored a malformed trace event on %s", topic)
                return
            transaction = self.book.add(event)
            self._push("transaction", transaction.summary())
        elif topic == topics.SWITCH_STATUS:
            self.switch = text
            self._push("switch", {"status": text})
        elif parts[0] == "tpe" and len(parts) == 3:
            self.terminals[parts[1]] = text
            self._push("terminal", {"tid": parts[1], "status": text})
        elif parts[:2] == ["sim", "issuer"] and len(parts) == 4:
            self.issuers[parts[2]] = text
            self._push("issuer", {"issuer": parts[2], "status": text})

    def _push(self, kind: str, data: dict[str, Any]) -> None:
        frame = f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        for page in list(self._pages):
            try:
                page.put_nowait(frame)
            except asyncio.QueueFull:  # too slow: its stream ends, the page reconnects
                self._pages.discard(page)
                while not page.empty():
                    page.get_nowait()
                page.put_nowait(None)

    def snapshot(self) -> dict[str, Any]:
        """Everything a page needs when it opens: statuses and the recent transactions."""
        return {
            "switch": self.switch,
            "terminals": dict(sorted(self.terminals.items())),
            "issuers": dict(sorted(self.issuers.items())),
            "transactions": [t.summary() for t in self.book.recent()],
            "connected": self.connected.is_set(),
            "ledger": self.ledger is not None,
        }

    def transaction(self, transaction_id: str) -> Transaction | None:
        return self.book.get(transaction_id)

    async def stream(self) -> AsyncIterator[str]:
        """Server-sent events for one page until it goes (or the hub closes): a comment every
        15 s keeps proxies from closing an idle stream."""
        page: asyncio.Queue[str | None] = asyncio.Queue(_QUEUE)
        self._pages.add(page)
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    async with asyncio.timeout(15):
                        frame = await page.get()
                except TimeoutError:
                    yield ": idle\n\n"
                    continue
                if frame is None:
                    return
                yield frame
        finally:
            self._pages.discard(page)

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        for page in list(self._pages):
            with contextlib.suppress(asyncio.QueueFull):
                page.put_nowait(None)
        self._pages.clear()

    async def command(self, topic: str, payload: str) -> None:
        """Publish an operator's command on ``topic`` (QoS 1, not retained)."""
        transport = self._transport
        if transport is None:
            raise HubUnavailableError(f"not connected to the broker {self.broker}")
        try:
            await transport.publish(topic, payload.encode(), qos=1)
        except TransportError as error:
            raise HubUnavailableError(str(error)) from None
