"""A terminal's life on the network: connecting and signing on, a power-up that reverses what
was in flight, a network cut and its mending, reconnecting after a broker restart, and the
echo that proves the switch has seen everything. The session half of
:class:`~terminal.shell.tpe.Terminal`."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Self

from terminal.builder import RequestBuilder
from terminal.channel import Channel
from terminal.link import Link, LinkFaults
from terminal.machine import Event, TerminalMachine
from terminal.records import NonVolatileMemory, TerminalError
from terminal.shell.saf import Advice
from wire.clock import Clock
from wire.protocol.codec import FormatError, decode_request
from wire.protocol.codes import describe
from wire.protocol.messages import FinancialRequest, IsoMessage, Response
from wire.sealing import TransactionKeys

__all__ = ["Session"]

log = logging.getLogger("terminal")


class Session:
    """Connection, sign-on, power and network faults of :class:`~terminal.shell.tpe.Terminal`."""

    channel: Channel
    machine: TerminalMachine
    builder: RequestBuilder
    clock: Clock
    link: Link
    memory: NonVolatileMemory | None
    saf: list[tuple[Advice, TransactionKeys | None]]
    powered: bool
    link_cut: bool
    _busy: asyncio.Lock

    if TYPE_CHECKING:  # provided by another half of Terminal

        @property
        def tid(self) -> str: ...

        def _next_keys(self) -> TransactionKeys | None: ...

        def _seal(self, message: IsoMessage, keys: TransactionKeys | None) -> bytes: ...

        async def _exchange(
            self, request: IsoMessage, payload: bytes, response_mti: str
        ) -> Response | None: ...

        async def _reverse(self, original: FinancialRequest) -> str: ...

        async def flush_saf(self) -> int: ...

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the terminal's MQTT connection is up."""
        return self.channel.connected

    async def _ensure_connected(self) -> None:
        """Reconnect when the connection was lost (a broker restart, a network cut now
        mended); TerminalError while the network is cut or when the broker stays away."""
        if not self.powered:
            raise TerminalError(f"{self.tid}: no power")
        if self.channel.connected:
            return
        if self.link_cut:
            raise TerminalError(f"{self.tid}: no network")
        await self.channel.reconnect()

    async def cut_network(self) -> None:
        """A fault: the network goes down under the terminal. No DISCONNECT reaches the broker,
        which publishes the Last Will (``offline``); until :meth:`restore_network`, every
        transaction fails with TerminalError (nothing is sent)."""
        self.link_cut = True
        await self.channel.abort()

    async def restore_network(self) -> None:
        """The network is back: reconnect (``online`` again) and send what store-and-forward
        holds."""
        self.link_cut = False
        async with self._busy:
            await self._ensure_connected()
            if self.saf:
                await self.flush_saf()

    async def __aenter__(self) -> Self:
        await self.channel.connect()
        self.machine.handle(Event.CONNECTED)
        try:
            await self._sign_on()
            await self._recover()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _recover(self) -> None:
        """After a power loss: reverse the request that was in flight, whose outcome this
        terminal cannot confirm (the switch may have approved it)."""
        pending = self.memory.load_in_flight(self.tid) if self.memory else None
        if pending is None:
            return
        try:
            original = decode_request(pending)
        except FormatError:
            log.warning("%s: unreadable request in memory; dropped", self.tid)
            original = None
        if isinstance(original, FinancialRequest):
            log.warning("%s: restarted with stan %06d in flight: reversing it", self.tid,
                        original.stan)  # fmt: skip
            await self._reverse(original)  # an unanswered advice stays queued
        if self.memory is not None:
            self.memory.store_in_flight(self.tid, None, self.builder.upcoming_stan)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.channel.close()
        self.machine.handle(Event.DISCONNECTED)

    async def _sign_on(self) -> None:
        keys = self._next_keys()
        request = self.builder.sign_on(self.clock.now(), ksn=keys.ksn_hex if keys else None)
        response = await self._exchange(request, self._seal(request, keys), "0810")
        if response is None:
            self.machine.handle(Event.SIGN_ON_REFUSED)
            raise TerminalError(f"{self.tid}: no switch answering on {self.channel.broker}: "
                                "is `tpesim switch` running?")  # fmt: skip
        if response.response_code != "00":
            self.machine.handle(Event.SIGN_ON_REFUSED)
            why = f"{response.response_code} {describe(response.response_code).en}"
            reason = getattr(response, "additional_response", None)
            if reason:
                why += f": {reason}"
            raise TerminalError(f"{self.tid}: the switch refused the sign-on ({why})")
        self.machine.handle(Event.SIGN_ON_ACCEPTED)
        log.info("%s signed on", self.tid)

    async def quiesce(self) -> None:
        """Wait until the link has delivered everything it still carries, then exchange an
        echo (0800, network code 301) over a clean link: the switch serves a terminal's
        messages in order, so once the echo is answered it has seen all of them."""
        await self.channel.delivered()
        faults, self.link.faults = self.link.faults, LinkFaults()
        try:
            async with self._busy:
                await self._ensure_connected()
                try:
                    keys = self._next_keys()
                except TerminalError:  # an exhausted PIN pad: the echo goes unsealed
                    keys = None
                request = self.builder.echo(self.clock.now(), ksn=keys.ksn_hex if keys else None)
                response = await self._exchange(request, self._seal(request, keys), "0810")
        finally:
            self.link.faults = faults
        if response is None:
            raise TerminalError(f"{self.tid}: echo unanswered")
