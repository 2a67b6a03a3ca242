"""Pre-authorizations on a terminal: completing one with an 0220 (at most what was authorized)
and cancelling one with an 0400. The pre-authorization half of
:class:`~terminal.shell.tpe.Terminal`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from terminal.builder import RequestBuilder
from terminal.records import TerminalError
from terminal.shell.saf import Advice
from wire.clock import Clock
from wire.protocol.messages import CompletionAdvice, CompletionResponse, FinancialRequest
from wire.sealing import TransactionKeys

__all__ = ["PreAuthorizations"]


class PreAuthorizations:
    """Completion and cancellation of :class:`~terminal.shell.tpe.Terminal`'s pre-authorizations."""

    builder: RequestBuilder
    clock: Clock
    authorizations: dict[int, FinancialRequest]
    """Approved pre-authorizations (0100) not completed yet, by STAN."""
    saf: list[tuple[Advice, TransactionKeys | None]]
    _busy: asyncio.Lock

    if TYPE_CHECKING:  # provided by another half of Terminal

        @property
        def tid(self) -> str: ...

        async def _ensure_connected(self) -> None: ...

        def _next_keys(self) -> TransactionKeys | None: ...

        async def _send_completion(
            self, advice: CompletionAdvice, keys: TransactionKeys | None
        ) -> CompletionResponse | None: ...

        async def _reverse(self, original: FinancialRequest) -> str: ...

    async def complete(self, stan: int, amount: int) -> CompletionResponse | None:
        """Complete the pre-authorization ``stan`` for ``amount`` (at most what was authorized)
        with an 0220; the 0230, or None when none came after every attempt: the completion then
        waits in the store-and-forward queue and goes out again before the next transaction
        (the pre-authorization stays open until it is answered)."""
        async with self._busy:
            original = self.authorizations.get(stan)
            if original is None:
                raise TerminalError(f"{self.tid}: no open pre-authorization with STAN {stan:06d}")
            await self._ensure_connected()
            keys = self._next_keys()
            request = self.builder.completion(
                original, amount, self.clock.now(), ksn=keys.ksn_hex if keys else None
            )
            response = await self._send_completion(request, keys)
            if response is None:
                self.saf.append((request, keys))
            return response

    async def cancel_authorization(self, stan: int) -> str:
        """Cancel the open pre-authorization ``stan`` with an 0400 (the hold is released);
        ``"acknowledged"``, or ``"unresolved"`` when no 0410 came after every attempt."""
        async with self._busy:
            original = self.authorizations.get(stan)
            if original is None:
                raise TerminalError(f"{self.tid}: no open pre-authorization with STAN {stan:06d}")
            await self._ensure_connected()
            verdict = await self._reverse(original)
            if verdict == "acknowledged":
                self.authorizations.pop(stan, None)
        return verdict
