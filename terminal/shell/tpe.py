"""One TPE on the network: purchases (chip, stripe, keyed, e-commerce; refunds, cash-back,
pre-authorizations, balance inquiries), their timeout reversals, offline decisions under the
floor limit, voids and batch closes, and the terminal's own faults (power loss, a slipped STAN
counter, a faulty chip reader, a corrupt MAC).

Its channel (terminal.channel) holds the MQTT connection and hands each response to the request
it answers; the halves in this package hold sign-on and network faults (``session``),
store-and-forward (``saf``), the till (``till``), voids, QR sales and pre-authorizations. One
transaction at a time, like a real TPE.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import datetime

from cards.chip import Chip, Plastic
from cards.crypto import DukptExhaustedError, tlv
from cards.masking import mask_pan
from terminal.builder import (
    BALANCE_INQUIRY,
    CVV2_ENTRIES,
    ENTRY_MODES,
    PURCHASE,
    REFUND,
    CardPresentation,
    RequestBuilder,
)
from terminal.channel import Channel
from terminal.keying import card_entry, check_kind, flip_mac_bit
from terminal.link import Link
from terminal.machine import Event, TerminalMachine
from terminal.offline import APPROVED_OFFLINE, offline_advice, offline_verdict
from terminal.pinpad import PinPad
from terminal.records import (
    NonVolatileMemory,
    NotLastSaleError,
    PowerLostError,
    TerminalError,
    TerminalStats,
    TransactionOutcome,
)
from terminal.shell.preauth import PreAuthorizations
from terminal.shell.qr_sales import QrSales
from terminal.shell.saf import Advice, StoreAndForward
from terminal.shell.session import Session
from terminal.shell.till import Till
from terminal.shell.voids import Voids
from wire.clock import Clock, SystemClock
from wire.journal import EntryKind, JournalEntry
from wire.protocol.codec import (
    encode,
)
from wire.protocol.messages import (
    BatchResponse,
    FinancialRequest,
    FinancialResponse,
    IsoMessage,
    OriginalDataElements,
    Response,
)
from wire.registry import TerminalProfile
from wire.sealing import TransactionKeys
from wire.transport.base import BrokerUrl

__all__ = [
    "NonVolatileMemory",
    "Terminal",
    "TerminalError",
    "TerminalStats",
    "TransactionOutcome",
]

log = logging.getLogger("terminal")


class Terminal(StoreAndForward, Voids, QrSales, Till, Session, PreAuthorizations):
    """One simulated TPE: ``async with Terminal(profile, broker) as tpe: await tpe.purchase(…)``."""

    def __init__(
        self,
        profile: TerminalProfile,
        broker: BrokerUrl,
        *,
        clock: Clock | None = None,
        timeout_s: float = 5.0,
        reversal_attempts: int = 5,
        pinpad: PinPad | None = None,
        first_stan: int = 1,
        lose_reversals: bool = False,
        memory: NonVolatileMemory | None = None,
        seed: int | str = 0,
    ) -> None:
        """``lose_reversals`` is a fault: every 0400 the terminal sends is lost on the way (it
        gives up on it unanswered, and its journal keeps the sale as reversal-pending).
        ``seed`` seeds the faults of the terminal's link (:attr:`link`)."""
        self.profile = profile
        self.encoding = profile.encoding
        """How its messages are written on the wire (the registry says, per merchant)."""
        self.pinpad = pinpad
        self.broker = broker
        self.clock = clock or SystemClock()
        self.timeout_s = timeout_s
        self.stopwatch: Callable[[], float] = time.perf_counter
        """Seconds on a monotonic clock, for each answer's latency (a test hands in its own)."""
        self.reversal_attempts = reversal_attempts
        self.machine = TerminalMachine(profile.tid)
        self.builder = RequestBuilder(profile, first_stan)
        self.stats = TerminalStats()
        self.lose_reversals = lose_reversals
        self.memory = memory
        self.offline_floor_limit = 0
        """Chip sales up to this many minor units are approved offline when the switch cannot
        be reached (0: online only)."""
        self.power_fails = False
        """A fault: the power goes the moment the next sale's request has left."""
        self.powered = True
        self.reuse_key = False
        """A fault (a terminal whose STAN counter slipped): the next sale goes out under the
        previous request's STAN and DE7, i.e. its idempotency key, with new content."""
        self.chip_reader_fault = False
        """A faulty chip reader (fault): chip sales fall back to the magnetic stripe."""
        self.link = Link(f"{seed}:{profile.tid}")
        """The link to the broker: set ``link.faults`` for delay, jitter, loss, duplicate or
        held (reordered) messages."""
        self.journal: list[JournalEntry] = []
        self.batch_number = 1
        """The open batch's number (DE60 of its 0500): up by one at every close answered."""
        self.last_sale: FinancialRequest | None = None
        self.paper = True
        """Whether the printer has paper. Without it sales still complete; receipts wait."""
        self.unprinted: list[str] = []
        """Receipts not printed for want of paper, oldest first."""
        self.authorizations: dict[int, FinancialRequest] = {}
        self.saf: list[tuple[Advice, TransactionKeys | None]] = []
        """Advices not acknowledged yet (store-and-forward): 0420 reversals and 0220
        completions, oldest first."""
        """Approved pre-authorizations (0100) not completed yet, by STAN."""
        """The open batch: what the terminal believes it sold and refunded since its last
        batch close."""
        self.channel = Channel(
            profile.tid,
            broker,
            link=self.link,
            stats=self.stats,
            status=lambda: b"online" if self.paper else b"degraded:paper-out",
            now=self._now,
            encoding=self.encoding,
            rng=random.Random(f"{seed}:{profile.tid}:reconnect"),  # noqa: S311 - not secrets
        )
        self.link_cut = False
        """A fault: the terminal's network is down (it cannot reach the broker) until
        :meth:`restore_network`."""
        self._busy = asyncio.Lock()
        self._last_key: tuple[int, str] | None = None

    @property
    def tid(self) -> str:
        return self.profile.tid

    def _now(self) -> datetime:
        """The terminal's time, read through whatever clock it has now (a skew fault swaps it)."""
        return self.clock.now()

    def __repr__(self) -> str:
        return f"<Terminal {self.tid} {self.machine.state}>"

    # -- messaging -----------------------------------------------------------------------

    def _next_keys(self) -> TransactionKeys | None:
        """A fresh DUKPT transaction for the next request (None without PIN pad keys);
        TerminalError when the PIN pad has used up its counter and must be re-keyed."""
        if self.pinpad is None:
            return None
        try:
            return self.pinpad.next_transaction()
        except DukptExhaustedError:
            raise TerminalError(
                f"{self.tid}: PIN pad DUKPT counter exhausted: re-key the terminal"
            ) from None

    async def _reach_switch(self, offline_capable: bool) -> bool:
        """True when connected; False when the switch cannot be reached but this sale may be
        decided offline; TerminalError otherwise."""
        try:
            await self._ensure_connected()
        except TerminalError:
            if not offline_capable or not self.powered:
                raise
            return False
        return True

    def _decide_offline(
        self, request: FinancialRequest, keys: TransactionKeys | None, card: CardPresentation
    ) -> TransactionOutcome:
        """No link: approve up to the floor limit (``Y3``, an 0220 advice queued, the journal
        counts it as ``O`` until it is uploaded), decline above it (``Z3``)."""
        verdict = offline_verdict(request, self.offline_floor_limit)
        if verdict.response_code == APPROVED_OFFLINE:
            self.saf.append((offline_advice(request, verdict), keys))
            self.journal.append(JournalEntry(EntryKind.OFFLINE, request.stan, request.amount))
        log.warning("%s: no link; stan %06d decided offline: %s", self.tid, request.stan,
                    verdict.response_code)  # fmt: skip
        outcome = self._outcome(request, card, verdict, None, 0.0)
        if not outcome.printed:
            self.unprinted.append(outcome.receipt)
        self.stats.outcomes[outcome.verdict] += 1
        return outcome

    async def _lose_power(self, request: FinancialRequest, payload: bytes) -> None:
        """The power goes the instant ``request`` has left: no answer is read, no reversal
        sent, no receipt printed; the broker publishes the Last Will. Only what is in
        non-volatile memory (the request in flight) survives, for the power-up to reverse."""
        await self.channel.send(request, payload)
        await self.channel.abort()
        self.powered = False
        log.warning("%s: power lost with stan %06d in flight", self.tid, request.stan)
        raise PowerLostError(f"{self.tid}: power lost mid-transaction (stan {request.stan:06d})")

    async def _exchange(
        self, request: IsoMessage, payload: bytes, response_mti: str
    ) -> Response | None:
        """Send ``payload`` (the sealed ``request``); the matching response, or None after
        ``timeout_s``."""
        return await self.channel.exchange(request, payload, response_mti, self.timeout_s)

    # -- transactions --------------------------------------------------------------------

    async def purchase(
        self,
        card: CardPresentation,
        amount: int,
        pin: str | None = None,
        chip: Chip | None = None,
        *,
        entry: str = "chip",
        plastic: Plastic | None = None,
        tamper_mac: bool = False,
        refund: bool = False,
        refund_of: OriginalDataElements | None = None,
        preauth: bool = False,
        cash_back: int = 0,
        inquiry: bool = False,
    ) -> TransactionOutcome:
        """Run one purchase of ``amount`` minor units: the ``chip`` (when the card is inserted)
        signs it with an ARQC, the PIN the holder types is encrypted by the PIN pad (never sent
        or logged in clear); reverse it if no response comes in time. ``entry`` is how the card
        is read: ``chip``, ``magstripe`` (track 2 from ``plastic``), ``keyed`` or
        ``ecommerce`` (the printed CVV2 from ``plastic``; no PIN on the internet).
        ``tamper_mac`` flips one bit of the MAC on the way out (a fault to show the switch's
        63). ``refund`` credits the card instead (DE3 200000), ``refund_of`` naming the sale
        it gives back from in DE90 (the switch bounds the refund by what the sale left);
        ``preauth`` only reserves the amount (0100), to :meth:`complete` later; ``cash_back``
        minor units of cash are handed over with the purchase (DE3 090000, DE4 the total);
        ``inquiry`` asks the balance instead (:meth:`balance_inquiry`)."""
        entry = card_entry(entry, plastic, chip_reader_fault=self.chip_reader_fault, tid=self.tid)
        if entry == "ecommerce":
            pin = None  # a payment page asks no PIN
        if pin is not None and self.pinpad is None:
            raise TerminalError(f"{self.tid} has no PIN pad keys: it cannot take a PIN")
        check_kind(amount, cash_back=cash_back, inquiry=inquiry, refund=refund, preauth=preauth)
        offline_capable = (
            self.offline_floor_limit > 0 and not (preauth or refund or inquiry or cash_back)
            and entry == "chip" and chip is not None
        )  # fmt: skip
        async with self._busy:
            online = await self._reach_switch(offline_capable)
            if online and self.saf:  # store-and-forward goes first
                await self.flush_saf()
            now = self.clock.now()
            keys = self._next_keys()
            icc_data = None
            if chip is not None and entry == "chip":
                data = self.builder.terminal_data(amount + cash_back, now, secrets.token_bytes(4))
                icc_data = tlv.encode(chip.generate_arqc(data)).hex().upper()
            request = self.builder.purchase(
                card,
                amount,
                now,
                pin_block=keys.encrypt_pin(pin, card.pan) if pin and keys else None,
                ksn=keys.ksn_hex if keys else None,
                icc_data=icc_data,
                entry_mode=ENTRY_MODES[entry],
                track2=plastic.track2 if plastic and entry in ("magstripe", "fallback") else None,
                card_security_code=plastic.cvv2 if plastic and entry in CVV2_ENTRIES else None,
                processing_code=BALANCE_INQUIRY if inquiry else REFUND if refund else PURCHASE,
                preauth=preauth,
                cash_back=cash_back,
                refund_of=refund_of if refund else None,
            )
            if self.reuse_key and self._last_key is not None:
                self.reuse_key = False
                stan, moment = self._last_key
                request = request.model_copy(update={"stan": stan, "transmission_time": moment})
            self._last_key = request.stan, request.transmission_time
            if not online:
                return self._decide_offline(request, keys, card)
            payload = self._seal(request, keys)
            if tamper_mac:
                payload = flip_mac_bit(payload, self.encoding)
            return await self._online(request, payload, card, preauth=preauth, refund=refund)

    async def _online(
        self,
        request: FinancialRequest,
        payload: bytes,
        card: CardPresentation,
        *,
        preauth: bool,
        refund: bool,
    ) -> TransactionOutcome:
        """Send the sealed ``request``, wait for its answer (reverse it when none comes), book
        and print what it left."""
        started = self.stopwatch()
        if self.memory is not None:  # written before the request leaves
            self.memory.store_in_flight(self.tid, encode(request), self.builder.upcoming_stan)
        self.machine.handle(Event.REQUEST_SENT)
        if self.power_fails:
            await self._lose_power(request, payload)
        response = await self._exchange(request, payload, request.response_mti)
        latency_ms = (self.stopwatch() - started) * 1000
        reversal: str | None = None
        if response is None:
            self.machine.handle(Event.RESPONSE_TIMEOUT)
            reversal = await self._reverse(request)
        else:
            approved = isinstance(response, FinancialResponse) and response.approved
            self.machine.handle(Event.APPROVAL_RECEIVED if approved else Event.DECLINE_RECEIVED)
        outcome = self._outcome(request, card, response, reversal, latency_ms)
        self._book(request, outcome, preauth=preauth, refund=refund)
        if self.memory is not None:  # answered, or reversed (or queued to be)
            self.memory.store_in_flight(self.tid, None, self.builder.upcoming_stan)
        if response is not None:
            self.machine.handle(Event.RECEIPT_DONE)
        self.stats.outcomes[outcome.verdict] += 1
        return outcome

    async def void_last(self, expected: tuple[int, str] | None = None) -> TransactionOutcome:
        """Void the last approved sale or refund of the open batch (the TPE's cancel key): its
        reversal goes out through store-and-forward, the batch forgets it, a receipt says so.
        ``expected``: the (STAN, DE7) the caller means to void; TerminalError when the last
        sale is another by the time the terminal is free (or when there is none), or when the
        terminal cannot work (no power, no network)."""
        async with self._busy:
            sale = self.last_sale
            if expected is not None and (
                sale is None or (sale.stan, sale.transmission_time) != expected
            ):
                raise NotLastSaleError(f"{self.tid}: that sale is no longer the last one")
            if sale is not None:
                await self._ensure_connected()  # no power, no network: no void either
            masked = mask_pan(sale.pan) if sale is not None else ""
            return await self._void(masked, "")

    async def balance_inquiry(
        self,
        card: CardPresentation,
        pin: str | None = None,
        chip: Chip | None = None,
        *,
        entry: str = "chip",
        plastic: Plastic | None = None,
    ) -> TransactionOutcome:
        """Ask the card's available balance (DE3 310000, DE4 zero), as Edahabia holders do at
        a TPE: the answer's DE54 carries it, the receipt prints it (``outcome.balance``)."""
        return await self.purchase(card, 0, pin, chip, entry=entry, plastic=plastic, inquiry=True)

    async def close_batch(self) -> BatchResponse:
        """Close the open batch with an 0500 (totals and journal); the switch's 0510 says in
        balance (00) or out of balance (95, each difference explained in DE124). The journal
        starts afresh, and the batch number goes up, once the switch has answered, whatever the
        verdict; unanswered, the same batch is closed again next time (same number: the switch
        gives the same verdict if it had closed it)."""
        async with self._busy:
            await self._ensure_connected()
            if self.saf:
                await self.flush_saf()
            keys = self._next_keys()
            request = self.builder.batch_close(
                self.journal,
                self.clock.now(),
                ksn=keys.ksn_hex if keys else None,
                batch_number=self.batch_number,
            )
            response = await self._exchange(request, self._seal(request, keys), "0510")
            if not isinstance(response, BatchResponse):
                raise TerminalError(f"{self.tid}: batch close unanswered")
            if response.response_code in ("00", "95"):
                self.journal = []
                self.batch_number = self.batch_number % 999_999 + 1
                self.last_sale = None  # a closed batch's sales are no longer voidable
            log.info("%s: batch closed, %s", self.tid, response.additional_response)
            return response
