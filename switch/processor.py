"""Request processing: decoded message in, stored and committed response out.

Broker-agnostic (bytes in, :class:`Reply` out) so it is tested against real SQLite without MQTT.
Order for every request: attribute it to a terminal, decode (30 on failure), take its terminal's
and card's turn (switch.ordering), replay a stored answer for a duplicate (94 if the same key
carries different content), decide, commit the posting and the response in one transaction, and
only then hand back the response to send. Many requests may be processed at once, each in its
own task: requests of one terminal or one card are decided in the order they arrived.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from dataclasses import replace
from datetime import time
from typing import Any

from cards.catalog import CardSet
from cards.currency import format_money
from cards.masking import redact_wire_text
from switch.flows.batch import close_batch
from switch.flows.offline import post_offline
from switch.flows.purchases import PurchaseDesk
from switch.flows.qr_payments import QrDesk
from switch.flows.resolutions import complete, reverse
from switch.flows.standin import replay_advice, replay_advices, true_up_refunds
from switch.ledger.errors import (
    DuplicateRequestError,
    LedgerUnavailableError,
)
from switch.ledger.postings import MIDNIGHT
from switch.ledger.where import AnyLedger
from switch.ordering import OrderedKeys
from switch.reply import Reply, SwitchStats
from switch.rules.admission import LogBudget
from switch.rules.issuers import IssuerHosts, IssuerState
from switch.security import SecurityModule, load_keys
from wire.clock import Clock
from wire.magic import MagicAmounts
from wire.protocol import topics
from wire.protocol.codec import Encoding, FormatError, content_digest, decode_request, encode
from wire.protocol.fields import transmission_skew
from wire.protocol.iso8583 import to_iso8583
from wire.protocol.messages import (
    BatchRequest,
    CompletionAdvice,
    FinancialRequest,
    IsoMessage,
    NetworkRequest,
    NetworkResponse,
    OfflineAdvice,
    ReversalAdvice,
    ReversalRequest,
)
from wire.protocol.responses import Request, Response, echo, error_response, format_error_response
from wire.registry import Registry

__all__ = ["CLOCK_TOLERANCE_S", "Processor", "Reply", "SwitchStats"]

CLOCK_TOLERANCE_S = 600
"""How far a terminal's DE7 may be from the switch's clock before it counts as skewed."""

log = logging.getLogger("switch")

_effects: ContextVar[list[str]] = ContextVar("effects")
"""What the request being processed in this task did to the ledger (for its Reply)."""


class Processor:
    """Decides and records terminal requests. One instance per switch; :meth:`process` may run
    in many tasks at once."""

    def __init__(
        self,
        *,
        ledger: AnyLedger,
        cards: CardSet,
        registry: Registry,
        clock: Clock,
        magic: MagicAmounts | None,
        security: SecurityModule | None = None,
        cutoff: time = MIDNIGHT,
        issuers: IssuerHosts | None = None,
        require_mac: bool = False,
    ) -> None:
        """``cutoff`` is the local time (in each terminal's time zone) from which transactions
        belong to the next business day; ``issuers`` says which issuers answer (all, by
        default); ``require_mac``: every terminal's requests must carry a MAC, not only those
        of merchants marked ``mac_required`` in the registry."""
        self.issuers = issuers or IssuerHosts()
        self.require_mac = require_mac
        self._skewed: set[str] = set()
        self._logs = LogBudget()
        self.turns = OrderedKeys()
        """Whose turn it is: one request at a time per terminal and per card."""
        self.ledger = ledger
        self.security = security or SecurityModule(load_keys())
        self.cards = cards
        self.registry = registry
        self.clock = clock
        self.magic = magic
        self.stats = SwitchStats()
        self.cutoff = cutoff
        self.qr = QrDesk(ledger=ledger, cards=cards, registry=registry, clock=clock,
                         security=self.security, cutoff=cutoff)  # fmt: skip
        """Wallet QR payments (switch.flows.qr_payments)."""
        self.purchases = PurchaseDesk(
            ledger=ledger, cards=cards, registry=registry, clock=clock, magic=magic,
            security=self.security, cutoff=cutoff, issuers=self.issuers, commit=self._commit,
        )  # fmt: skip

    async def process(
        self, topic: str, payload: bytes, encoding: Encoding = Encoding.JSON
    ) -> Reply | None:
        """Handle one message from ``topic``, in ``encoding``; the answer is in the same
        encoding. None when it cannot be attributed (dropped)."""
        effects: list[str] = []
        token = _effects.set(effects)
        try:
            reply = await self._process(topic, payload, encoding)
        finally:
            _effects.reset(token)
        if reply is not None and effects:
            reply = replace(reply, effects=tuple(effects))
        if reply is not None and encoding is not Encoding.JSON:
            # Answers are made, stored and replayed as JSON; this is the sender's encoding.
            binary = to_iso8583(json.loads(reply.payload))
            reply = replace(reply, payload=binary, view=reply.payload)
        return reply

    async def _process(self, topic: str, payload: bytes, encoding: Encoding) -> Reply | None:
        tid = topics.terminal_of_request_topic(topic)
        if tid is None:
            self.stats.unattributed += 1
            log.warning("dropped a message on %r: no terminal id in the topic", topic[:80])
            return None
        try:
            request = decode_request(payload, encoding)
            if request.terminal_id != tid:
                self._attack(tid, "impersonation", f"DE41 names terminal {request.terminal_id!r}")
                raise FormatError(
                    "TID differs from topic", field="41", mti=request.mti, stan=request.stan
                )
            if request.mac is not None and request.ksn is None:
                raise FormatError(
                    "DE64 needs DE53 (KSN)", field="53", mti=request.mti, stan=request.stan
                )
        except FormatError as error:
            return self._format_error(tid, error, payload, encoding)
        self.stats.requests[request.mti] += 1
        self._check_clock(request)
        if isinstance(request, ReversalAdvice) and request.mti == "0421":
            # A repeat of an 0420: answered (or replayed) as the 0420 itself.
            request = request.model_copy(update={"mti": "0420"})
        if request.ksn is not None and not self.security.issued_to(tid, bytes.fromhex(request.ksn)):
            self._attack(tid, "key", f"{request!r}: DE53 names a key not issued to {tid}")
            return self._security_violation(tid, request, "key not issued to TID")
        if (
            request.mac is not None
            and request.ksn is not None
            and not self.security.verify_mac(
                ksn=bytes.fromhex(request.ksn), payload=payload, mac=request.mac, encoding=encoding
            )
        ):
            self._attack(tid, "mac", f"{request!r}: the MAC does not verify; answering 63")
            return self._security_violation(tid, request, "MAC does not verify")
        if request.mac is None and self._mac_required(tid):
            self._attack(tid, "unsigned", f"{request!r} carries no MAC (DE64); answering 63")
            return self._security_violation(tid, request, "MAC required")
        try:
            async with self.turns.holding(self._turn_keys(request)):
                reply = await self._dispatch(request)
        except LedgerUnavailableError as error:
            self.stats.internal_errors += 1
            log.error("%r: the ledger is unavailable (%s); answering 96, nothing posted",
                      request, error)  # fmt: skip
            reply = self._reply(tid, error_response(request, "96", "system malfunction"))
        except Exception:
            self.stats.internal_errors += 1
            log.exception("internal error on %r; answering 96, nothing posted", request)
            reply = self._reply(tid, error_response(request, "96", "system malfunction"))
        self.stats.responses[reply.response_code] += 1
        return reply

    def _turn_keys(self, request: Request) -> list[str]:
        """The keys ``request`` waits its turn on: its terminal's, then its card's (by the
        card's account when the switch knows the card, so cards sharing it wait too)."""
        keys = [f"tid:{request.terminal_id}"]
        pan: str | None = getattr(request, "pan", None)
        if pan:
            card = self.cards.issuer_card(pan)
            keys.append(f"account:{card.account}" if card else f"pan:{pan}")
        return keys

    def _check_clock(self, request: IsoMessage) -> None:
        """Count (and log, once per terminal) a DE7 far off the switch's clock: the terminal's
        clock is wrong. The switch goes on by its own clock (business day, holds, expiry)."""
        skew = transmission_skew(request.transmission_time, self.clock.now())
        if skew is None or abs(skew) <= CLOCK_TOLERANCE_S:
            return
        self.stats.clock_skews += 1
        tid = getattr(request, "terminal_id", "")
        if tid not in self._skewed:
            self._skewed.add(tid)
            log.warning("%r: DE7 is %+.0f s off the switch's clock; the switch keeps to its own",
                        request, skew)  # fmt: skip

    def _mac_required(self, tid: str) -> bool:
        if self.require_mac:
            return True
        profile = self.registry.get(tid)
        return profile is not None and profile.mac_required

    def _security_violation(self, tid: str, request: Request, why: str) -> Reply:
        """Answer 63 with ``why`` in DE44; nothing else is done."""
        self.stats.responses["63"] += 1
        reply = self._reply(tid, error_response(request, "63", why))
        return replace(reply, reason=why)

    def _attack(self, tid: str, kind: str, what: str) -> None:
        """Count an attack of ``kind`` (SwitchStats.attacks) from ``tid``; log it, at most once
        a second per terminal and kind."""
        self.stats.attacks[kind] += 1
        held = self._logs.take(f"{kind}:{tid}", self.clock.now().timestamp())
        if held is not None:
            log.warning("attack (%s) from %s: %s%s", kind, tid, what, LogBudget.held_note(held))

    def _format_error(
        self, tid: str, error: FormatError, payload: bytes, encoding: Encoding
    ) -> Reply:
        self.stats.format_errors += 1
        now = self.clock.now()
        held = self._logs.take(f"format:{tid}", now.timestamp())
        if held is not None:
            # A binary message's numeric fields run together: no excerpt, as its PAN could not
            # be told apart to be masked. The error names the field and the byte.
            what = f"{len(payload)} bytes of ISO 8583"
            if encoding is Encoding.JSON:
                what = (
                    f"payload starts {redact_wire_text(payload[:200].decode('utf-8', 'replace'))!r}"
                )
            log.warning("format error from %s: %s; %s%s", tid, error, what,
                        LogBudget.held_note(held))  # fmt: skip
        response = format_error_response(error, tid, now)
        self.stats.responses["30"] += 1
        return Reply(tid, encode(response), "30", reason=f"format error: {error}")

    @staticmethod
    def _reply(
        tid: str,
        response: Response,
        *,
        send: bool = True,
    ) -> Reply:
        return Reply(tid, encode(response), response.response_code, send)

    async def _dispatch(self, request: Request) -> Reply:
        if isinstance(request, NetworkRequest):
            return await self._network(request)
        replay = await self._replay(request)
        if replay is not None:
            return replay
        try:
            if isinstance(request, OfflineAdvice):
                return await self._offline(request)
            if isinstance(request, FinancialRequest):
                return await self._purchase(request)
            if isinstance(request, BatchRequest):
                return await self._batch(request)
            return await self._resolve(request)
        except DuplicateRequestError:
            # Another worker committed this key between our lookup and our commit.
            replay = await self._replay(request)
            if replay is None:
                raise
            return replay

    async def _replay(
        self, request: FinancialRequest | ReversalRequest | CompletionAdvice | BatchRequest
    ) -> Reply | None:
        """The stored answer for a request already seen (94 if its content differs)."""
        stored = await self.ledger.stored_request(request.key)
        if stored is None:
            return None
        if stored.mti == request.mti and stored.digest == content_digest(request):
            self.stats.duplicates += 1
            log.info("duplicate %r: replaying stored response %s", request, stored.response_code)
            return Reply(request.terminal_id, stored.response, stored.response_code,
                         reason="duplicate: the stored answer again")  # fmt: skip
        self.stats.conflicts += 1
        log.warning("%r reuses the key of an earlier, different request: 94", request)
        return self._reply(request.terminal_id, error_response(request, "94", "duplicate key"))

    async def _commit(self, request: Request, response: Response, **effects: Any) -> None:
        """Store ``response`` as the answer to ``request`` (by its idempotency key), with the
        ledger ``effects`` it has, in one transaction: see :meth:`Ledger.record`."""
        _effects.get([]).extend(
            f"{t.kind.value} {t.phase.value} {format_money(t.amount, t.currency)}: "
            f"{t.debit_account} → {t.credit_account}"
            for t in effects.get("transfers", ())
        )
        await self.ledger.record(
            request.key,
            mti=request.mti,
            digest=content_digest(request),
            response_code=response.response_code,
            response=encode(response),
            **effects,
        )

    async def _batch(self, request: BatchRequest) -> Reply:
        response, row = await close_batch(
            self.ledger, request, registry=self.registry, now=self.clock.now(), cutoff=self.cutoff
        )
        await self._commit(request, response, batch_close=row)
        return self._reply(request.terminal_id, response)

    async def _network(self, request: NetworkRequest) -> Reply:
        terminal = self.registry.get(request.terminal_id)
        code, note = "00", None
        if terminal is None:
            code, note = "03", "unknown terminal"
        elif request.network_code == "001":
            await self.ledger.set_signed_on(request.terminal_id, True)
        elif request.network_code == "002":
            await self.ledger.set_signed_on(request.terminal_id, False)
        response = NetworkResponse(
            **echo(request),
            response_code=code,
            additional_response=note,
        )
        log.info("%r → %s", request, code)
        return self._reply(request.terminal_id, response)

    async def set_issuer(self, issuer: str, state: IssuerState, latency_s: float = 0.0) -> int:
        """Take ``issuer`` down, slow it, or bring it back up; back up, its queued stand-in
        advices are replayed to it. How many were trued up."""
        changed = self.issuers.state(issuer) is not state or state is IssuerState.SLOW
        self.issuers.set(issuer, state, latency_s)
        log.log(logging.WARNING if changed else logging.DEBUG, "issuer %s is %s%s", issuer,
                state, f" ({latency_s:g} s)" if state is IssuerState.SLOW else "")  # fmt: skip
        if state is not IssuerState.UP:
            return 0
        return await replay_advices(self.ledger, issuer, self.clock.now())

    async def _purchase(self, request: FinancialRequest) -> Reply:
        response, decision, route = await self.purchases.handle(request)
        reply = self._reply(request.terminal_id, response, send=decision.respond)
        return replace(reply, route=route, reason=decision.reason)

    async def _offline(self, advice: OfflineAdvice) -> Reply:
        """An 0220 advice of an offline approval: post it (switch.flows.offline), answer 0230."""
        now = self.clock.now()
        posting = await post_offline(
            self.ledger, advice, cards=self.cards, registry=self.registry, now=now,
            cutoff=self.cutoff,
        )  # fmt: skip
        await self._commit(advice, posting.response, transfers=posting.transfers,
                           accounts=posting.accounts, rows=posting.rows)  # fmt: skip
        if posting.shortfall is not None:  # the cardholder lacks the money: the issuer's share
            await replay_advice(self.ledger, posting.shortfall, now)
        log.info("%r offline sale of %d on %s → %s", advice, advice.amount, advice.masked_pan,
                 posting.response.response_code)  # fmt: skip
        return self._reply(advice.terminal_id, posting.response)

    async def _resolve(self, request: ReversalRequest | CompletionAdvice) -> Reply:
        """An 0400 or 0220: decide (switch.flows.resolutions), store the answer and its transfer."""
        if isinstance(request, ReversalRequest):
            resolution = await reverse(self.ledger, request)
        else:
            resolution = await complete(
                self.ledger,
                request,
                registry=self.registry,
                now=self.clock.now(),
                cutoff=self.cutoff,
            )
        response = resolution.response
        transfers = resolution.transfers
        if resolution.transfer and isinstance(request, ReversalRequest):
            transfers += await true_up_refunds(self.ledger, resolution.transfer)
        await self._commit(
            request,
            response,
            transfers=transfers,
            orphan_reversal_of=resolution.orphan,
        )
        note = resolution.note
        log.info(
            "%r of stan %06d → %s%s",
            request,
            request.original.stan,
            response.response_code,
            f" ({note})" if note else "",
        )
        return self._reply(request.terminal_id, response)
