"""The terminal's store-and-forward queue: advices it keeps sending until the switch answers.

Three kinds: an 0420 reversal of a sale it timed out on (repeated as 0421, same STAN and DE7),
an 0220 completion whose 0230 was lost (repeated as is), and an 0220 advice of a sale approved
offline. Each is answered from what the switch stored when it arrives again, so repeats are
harmless; once answered, the journal says what became of the sale.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from terminal.builder import RequestBuilder
from terminal.machine import Event, TerminalMachine
from terminal.records import FINAL, TerminalStats
from wire.clock import Clock
from wire.journal import EntryKind, JournalEntry
from wire.protocol.codec import Encoding
from wire.protocol.messages import (
    CompletionAdvice,
    CompletionResponse,
    FinancialRequest,
    IsoMessage,
    OfflineAdvice,
    Response,
    ReversalAdvice,
    ReversalResponse,
)
from wire.sealing import TransactionKeys, seal

__all__ = ["Advice", "StoreAndForward"]

log = logging.getLogger("terminal")

Advice = ReversalAdvice | CompletionAdvice | OfflineAdvice
"""What store-and-forward keeps until the switch answers it."""


class StoreAndForward:
    """The store-and-forward half of :class:`~terminal.shell.tpe.Terminal`."""

    builder: RequestBuilder
    clock: Clock
    machine: TerminalMachine
    stats: TerminalStats
    journal: list[JournalEntry]
    authorizations: dict[int, FinancialRequest]
    saf: list[tuple[Advice, TransactionKeys | None]]
    lose_reversals: bool
    reversal_attempts: int

    encoding: Encoding

    if TYPE_CHECKING:  # provided by another half of Terminal

        @property
        def tid(self) -> str: ...

        def _next_keys(self) -> TransactionKeys | None: ...

    def _seal(self, message: IsoMessage, keys: TransactionKeys | None) -> bytes:
        """``message``'s wire bytes in the terminal's encoding, MAC'd under ``keys``."""
        return seal(message, keys, self.encoding)

    if TYPE_CHECKING:  # provided by another half of Terminal

        async def _exchange(
            self, request: IsoMessage, payload: bytes, response_mti: str
        ) -> Response | None: ...

    async def _reverse(self, original: FinancialRequest) -> str:
        """Reverse ``original`` from the store-and-forward queue: an 0420, then 0421 repeats
        (same STAN and DE7, so the switch deduplicates), until an 0430 comes back or
        ``reversal_attempts`` are spent; an unanswered advice stays queued and is sent again
        before the next transaction (:meth:`flush_saf`)."""
        keys = self._next_keys()
        advice = self.builder.reversal_advice(
            original, self.clock.now(), ksn=keys.ksn_hex if keys else None
        )
        self.machine.handle(Event.REVERSAL_SENT)
        self.stats.reversals_sent += 1
        if await self._send_advice(advice, keys, first=True):
            self.machine.handle(Event.REVERSAL_ACKNOWLEDGED)
            return "acknowledged"
        self.saf.append((advice, keys))
        self.stats.reversals_unresolved += 1
        log.warning(
            "%s: reversal of stan %06d unanswered after %d attempts; kept for store-and-forward",
            self.tid,
            original.stan,
            self.reversal_attempts,
        )
        self.machine.handle(Event.REVERSAL_ABANDONED)
        return "unresolved"

    async def _send_advice(
        self, advice: Advice, keys: TransactionKeys | None, *, first: bool
    ) -> bool:
        """Send ``advice`` up to ``reversal_attempts`` times: a reversal as 0420 the first time
        and 0421 after, a completion as the same 0220 (the switch answers a repeat from what it
        stored); True once answered."""
        if isinstance(advice, OfflineAdvice):
            return await self._send_offline(advice, keys)
        if isinstance(advice, CompletionAdvice):
            return await self._send_completion(advice, keys) is not None
        if self.lose_reversals:
            return False
        for attempt in range(self.reversal_attempts):
            message = (
                advice if first and attempt == 0 else advice.model_copy(update={"mti": "0421"})
            )
            response = await self._exchange(message, self._seal(message, keys), "0430")
            if isinstance(response, ReversalResponse) and response.response_code in FINAL:
                log.info(
                    "%s: reversal advice %06d acknowledged (%s)",
                    self.tid,
                    advice.stan,
                    response.response_code,
                )
                self._settle_journal(advice)
                return True
        return False

    def _settle_journal(self, advice: ReversalAdvice) -> None:
        """An acknowledged reversal: its sale leaves the journal's pending list."""
        self._unjournal(EntryKind.REVERSAL_PENDING, advice.original.stan)

    def _unjournal(self, kind: EntryKind, stan: int) -> None:
        """Take the ``kind`` line of ``stan`` out of the journal."""
        self.journal = [e for e in self.journal if not (e.kind is kind and e.stan == stan)]

    async def _answer_0220(
        self, advice: CompletionAdvice | OfflineAdvice, keys: TransactionKeys | None
    ) -> CompletionResponse | None:
        """Send an 0220 as it is until its 0230 comes, at most ``reversal_attempts`` times (the
        switch answers a repeat from what it stored); the 0230, or None."""
        for _ in range(self.reversal_attempts):
            response = await self._exchange(advice, self._seal(advice, keys), "0230")
            if isinstance(response, CompletionResponse):
                return response
        return None

    async def _send_completion(
        self, advice: CompletionAdvice, keys: TransactionKeys | None
    ) -> CompletionResponse | None:
        """Send an 0220 completion until its 0230 comes; an approved one books the sale and
        closes the pre-authorization."""
        response = await self._answer_0220(advice, keys)
        if response is None:
            return None
        if response.response_code == "00":
            self.authorizations.pop(advice.original.stan, None)
            self.journal.append(JournalEntry(EntryKind.SALE, advice.stan, advice.amount))
        log.info("%s: completion of %06d → %s", self.tid, advice.original.stan,
                 response.response_code)  # fmt: skip
        return response

    async def flush_saf(self) -> int:
        """Send every queued advice again (a reversal as 0421); how many are still queued."""
        still: list[tuple[Advice, TransactionKeys | None]] = []
        for advice, keys in self.saf:
            if not await self._send_advice(advice, keys, first=False):
                still.append((advice, keys))
            elif isinstance(advice, ReversalAdvice):
                self.stats.reversals_unresolved -= 1
        self.saf = still
        return len(still)

    async def _send_offline(self, advice: OfflineAdvice, keys: TransactionKeys | None) -> bool:
        """Upload an offline approval until the 0230 comes; then the journal counts it as a
        sale (00) or drops it (the switch refused it)."""
        response = await self._answer_0220(advice, keys)
        if response is None:
            return False
        self._unjournal(EntryKind.OFFLINE, advice.stan)
        if response.response_code == "00":
            self.journal.append(JournalEntry(EntryKind.SALE, advice.stan, advice.amount))
        log.info("%s: offline sale %06d uploaded → %s", self.tid, advice.stan,
                 response.response_code)  # fmt: skip
        return True
