"""Request processing: decoded message in, stored and committed response out.

Broker-agnostic (bytes in, :class:`Reply` out) so it is tested against real SQLite without MQTT.
Order for every request: attribute it to a terminal, decode (30 on failure), replay a stored
answer for a duplicate (94 if the same key carries different content), decide, commit the
posting and the response in one transaction, and only then hand back the response to send.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any

from cards.catalog import CardSet
from cards.masking import redact_wire_text
from switch.authorization import (
    CardholderPosition,
    Decision,
    authorize,
    is_refund,
    issuer_day,
)
from switch.batch import close_batch
from switch.clock import Clock
from switch.issuers import IssuerHosts, IssuerState
from switch.ledger.postings import MIDNIGHT, business_day, card_hold
from switch.ledger.rules import TransferKind, merchant_account
from switch.ledger.standin import StandInAdvice, standin_account
from switch.ledger.store import (
    CardState,
    DuplicateRequestError,
    InsufficientFundsError,
    Ledger,
    LedgerUnavailableError,
)
from switch.magic import MagicAmounts
from switch.offline import post_offline
from switch.protocol import topics
from switch.protocol.codec import FormatError, decode_request, encode
from switch.protocol.fields import format_transmission_time, transmission_skew
from switch.protocol.messages import (
    AuthorizationRequest,
    AuthorizationResponse,
    BatchRequest,
    CompletionAdvice,
    FinancialRequest,
    FinancialResponse,
    IsoMessage,
    NetworkRequest,
    NetworkResponse,
    OfflineAdvice,
    ReversalAdvice,
    ReversalRequest,
)
from switch.registry import Registry
from switch.resolutions import complete, reverse
from switch.responses import (
    Request,
    Response,
    approval_code,
    echo,
    error_response,
    response_class,
    retrieval_reference,
)
from switch.security import SecurityModule, load_keys
from switch.security.checks import SecurityFacts, inspect_purchase
from switch.standin import replay_advice, replay_advices, stand_in, true_up_refunds

__all__ = ["CLOCK_TOLERANCE_S", "Processor", "Reply", "SwitchStats"]

CLOCK_TOLERANCE_S = 600
"""How far a terminal's DE7 may be from the switch's clock before it counts as skewed."""

log = logging.getLogger("switch")


@dataclass(frozen=True, slots=True)
class Reply:
    """What to publish back: payload for ``tid``'s response topic (``send`` False: stay silent)."""

    tid: str
    payload: bytes
    response_code: str
    send: bool = True


@dataclass
class SwitchStats:
    """Counters since start: requests by MTI, responses by DE39, and what was refused."""

    requests: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    format_errors: int = 0
    unattributed: int = 0
    duplicates: int = 0
    conflicts: int = 0
    internal_errors: int = 0
    security_failures: int = 0
    """Requests whose MAC did not verify (answered 63)."""
    clock_skews: int = 0
    """Requests whose DE7 was more than ``CLOCK_TOLERANCE_S`` off the switch's clock."""


def _digest(message: IsoMessage) -> str:
    """Fingerprint of a request's content for idempotency: the security envelope (DE53 KSN,
    DE64 MAC) is left out, so a repeat sealed under a fresh DUKPT key is the same request."""
    envelope = {name: None for name in ("ksn", "mac") if getattr(message, name, None)}
    return hashlib.sha256(encode(message.model_copy(update=envelope))).hexdigest()


class Processor:
    """Decides and records terminal requests. One instance per switch; not re-entrant."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        cards: CardSet,
        registry: Registry,
        clock: Clock,
        magic: MagicAmounts | None,
        security: SecurityModule | None = None,
        cutoff: time = MIDNIGHT,
        issuers: IssuerHosts | None = None,
    ) -> None:
        """``cutoff`` is the local time (in each terminal's time zone) from which transactions
        belong to the next business day; ``issuers`` says which issuers answer (all, by
        default)."""
        self.issuers = issuers or IssuerHosts()
        self._skewed: set[str] = set()
        self.ledger = ledger
        self.security = security or SecurityModule(load_keys())
        self.cards = cards
        self.registry = registry
        self.clock = clock
        self.magic = magic
        self.stats = SwitchStats()
        self.cutoff = cutoff

    async def process(self, topic: str, payload: bytes) -> Reply | None:
        """Handle one message from ``topic``; None when it cannot be attributed (dropped)."""
        tid = topics.terminal_of_request_topic(topic)
        if tid is None:
            self.stats.unattributed += 1
            log.warning("dropped a message on %r: no terminal id in the topic", topic[:80])
            return None
        try:
            request = decode_request(payload)
            if request.terminal_id != tid:
                raise FormatError(
                    "TID differs from topic", field="41", mti=request.mti, stan=request.stan
                )
            if request.mac is not None and request.ksn is None:
                raise FormatError(
                    "DE64 needs DE53 (KSN)", field="53", mti=request.mti, stan=request.stan
                )
        except FormatError as error:
            return self._format_error(tid, error, payload)
        self.stats.requests[request.mti] += 1
        self._check_clock(request)
        if isinstance(request, ReversalAdvice) and request.mti == "0421":
            # A repeat of an 0420: answered (or replayed) as the 0420 itself.
            request = request.model_copy(update={"mti": "0420"})
        if (
            request.mac is not None
            and request.ksn is not None
            and not self.security.verify_mac(
                ksn=bytes.fromhex(request.ksn), payload=payload, mac=request.mac
            )
        ):
            self.stats.security_failures += 1
            self.stats.responses["63"] += 1
            log.warning("%r: the MAC does not verify; answering 63, nothing done", request)
            return self._reply(tid, error_response(request, "63", "MAC does not verify"))
        try:
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

    def _format_error(self, tid: str, error: FormatError, payload: bytes) -> Reply:
        self.stats.format_errors += 1
        excerpt = redact_wire_text(payload[:200].decode("utf-8", "replace"))
        log.warning("format error from %s: %s; payload starts %r", tid, error, excerpt)
        now = self.clock.now()
        common = {
            "transmission_time": format_transmission_time(now),
            "stan": error.stan if error.stan is not None else 0,
            "terminal_id": tid,
            "response_code": "30",
            "additional_response": error.short,
        }
        response = response_class(error.response_mti)(**common)
        self.stats.responses["30"] += 1
        return Reply(tid, encode(response), "30")

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
        if stored.mti == request.mti and stored.digest == _digest(request):
            self.stats.duplicates += 1
            log.info("duplicate %r: replaying stored response %s", request, stored.response_code)
            return Reply(request.terminal_id, stored.response, stored.response_code)
        self.stats.conflicts += 1
        log.warning("%r reuses the key of an earlier, different request: 94", request)
        return self._reply(request.terminal_id, error_response(request, "94", "duplicate key"))

    async def _commit(self, request: Request, response: Response, **effects: Any) -> None:
        """Store ``response`` as the answer to ``request`` (by its idempotency key), with the
        ledger ``effects`` it has, in one transaction: see :meth:`Ledger.record`."""
        await self.ledger.record(
            request.key,
            mti=request.mti,
            digest=_digest(request),
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

    async def _position(
        self, request: FinancialRequest, now: datetime, *, issuer_up: bool
    ) -> CardholderPosition | None:
        """The cardholder's available balance and spending on the issuer's day of ``now``
        (standing in, the balance is unknown: taken as enough, the stand-in rules bound it)."""
        card = self.cards.issuer_card(request.pan)
        if card is None:
            return None
        day = issuer_day(self.cards.products[card.product], now)
        return CardholderPosition(
            available=(await self.ledger.available(card.account) if issuer_up else request.amount),
            spent_today=await self.ledger.spent_on_day(card.id, day),
        )

    async def _issuer_up(self, request: FinancialRequest) -> bool:
        """Route ``request`` to its card's issuer: wait as long as it takes (a slow issuer, up
        to the deadline); False when the switch must stand in for it."""
        product = self.cards.product_for_pan(request.pan)
        if product is None:
            return True
        routing = self.issuers.route(product.issuer)
        if routing.wait_s:
            await asyncio.sleep(routing.wait_s)
        return routing.available

    async def _stand_in(
        self, request: FinancialRequest, decision: Decision, now: datetime
    ) -> Decision:
        card = decision.card
        if card is None:
            return decision
        product = self.cards.products[card.product]
        purchase = _hold_kind(request) is TransferKind.PURCHASE
        usage = await self.ledger.standin_usage(card.id, issuer_day(product, now))
        return stand_in(decision, amount=request.amount,
                        rules=product.stand_in if purchase else None, usage=usage)  # fmt: skip

    async def _purchase(self, request: FinancialRequest) -> Reply:
        now = self.clock.now()
        terminal = self.registry.get(request.terminal_id)
        facts, state = SecurityFacts(), None
        if await self.ledger.is_pre_reversed(request.key):
            decision = Decision("12", "already reversed")
        else:
            card = self.cards.issuer_card(request.pan)
            facts = inspect_purchase(self.security, self.cards, request)
            state = await self.ledger.card_state(card.id) if card else None
            issuer_up = await self._issuer_up(request)
            decision = authorize(
                request,
                terminal=terminal,
                signed_on=await self.ledger.is_signed_on(request.terminal_id),
                cards=self.cards,
                position=await self._position(request, now, issuer_up=issuer_up),
                now=now,
                magic=self.magic,
                pin=facts.pin,
                pin_failures=state.pin_failures if state else 0,
                arqc=facts.arqc,
                atc=facts.atc,
                last_atc=state.last_atc if state else None,
                cvv=facts.cvv,
            )
            if not issuer_up:
                decision = await self._stand_in(request, decision, now)
        rrn = retrieval_reference(now, request.stan)
        try:
            response = await self._record_purchase(
                request, decision, rrn=rrn, now=now, facts=facts, state=state
            )
        except InsufficientFundsError:
            log.error("%r: the ledger refused the debit; declining 51", request)
            decision = replace(decision, code="51", reason="insufficient funds")
            response = await self._record_purchase(
                request, decision, rrn=rrn, now=now, facts=facts, state=state
            )
        log.info(
            "%r card %s amount %d → %s (%s)",
            request,
            request.masked_pan,
            request.amount,
            decision.code,
            decision.reason,
        )
        return self._reply(request.terminal_id, response, send=decision.respond)

    def _purchase_response(
        self, request: FinancialRequest, decision: Decision, rrn: str, facts: SecurityFacts
    ) -> FinancialResponse:
        cls = (
            AuthorizationResponse
            if isinstance(request, AuthorizationRequest)
            else FinancialResponse
        )
        return cls(
            **echo(request),
            rrn=rrn,
            auth_code=approval_code(request.key, stand_in=decision.stand_in)
            if decision.approved
            else None,
            response_code=decision.code,
            additional_response=("stand-in" if decision.stand_in else None)
            if decision.approved
            else decision.reason[:25],
            merchant_id=request.merchant_id,
            currency=request.currency,
            icc_data=facts.response_icc(decision.code),
        )

    async def _record_purchase(
        self,
        request: FinancialRequest,
        decision: Decision,
        *,
        rrn: str,
        now: datetime,
        facts: SecurityFacts,
        state: CardState | None,
    ) -> FinancialResponse:
        """Commit the decision (the posting of an approval, the card's new security state);
        return the stored 0210."""
        response = self._purchase_response(request, decision, rrn, facts)
        transfers, accounts, rows = [], [], []
        terminal = self.registry.get(request.terminal_id)
        if decision.approved and decision.card is not None and terminal is not None:
            card = decision.card
            product = self.cards.products[card.product]
            currency = self.cards.accounts[card.account].currency
            merchant = merchant_account(request.merchant_id, currency)
            accounts.append(merchant)
            debited = card.account
            if decision.stand_in:  # held on the issuer's stand-in account, advice queued
                standin = standin_account(product.issuer, currency)
                accounts.append(standin)
                debited = standin.id
            transfers.append(
                card_hold(
                    _hold_kind(request),
                    key=request.key,
                    card_id=card.id,
                    cardholder_account=debited,
                    merchant_account=merchant.id,
                    amount=request.amount,
                    currency=currency,
                    issuer_day=issuer_day(product, now),
                    business_day=business_day(
                        terminal.merchant.country_info.timezone, now, self.cutoff
                    ),
                    rrn=rrn,
                )
            )
            if decision.stand_in:
                hold = transfers[0]
                advice = StandInAdvice(hold.id, product.issuer, card.id, card.account,
                                       request.amount, issuer_day(product, now))  # fmt: skip
                rows.append(advice.row(now.isoformat(timespec="microseconds")))
        await self._commit(
            request,
            response,
            transfers=transfers,
            accounts=accounts,
            card_state=_new_card_state(state, decision),
            rows=rows,
        )
        return response

    async def _offline(self, advice: OfflineAdvice) -> Reply:
        """An 0220 advice of an offline approval: post it (switch.offline), answer 0230."""
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
        """An 0400 or 0220: decide (switch.resolutions), store the answer with its transfer."""
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
        transfers = [resolution.transfer] if resolution.transfer else []
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


def _hold_kind(request: FinancialRequest) -> TransferKind:
    """What an approved 0200 or 0100 holds: a purchase, a refund (DE3 20xxxx) or a
    pre-authorization."""
    if isinstance(request, AuthorizationRequest):
        return TransferKind.PREAUTH
    if is_refund(request):
        return TransferKind.REFUND
    return TransferKind.PURCHASE


def _new_card_state(state: CardState | None, decision: Decision) -> CardState | None:
    """The card's security state after ``decision`` (None when nothing changes)."""
    if state is None or (decision.pin_failures is None and decision.atc is None):
        return None
    return CardState(
        state.card_id,
        state.pin_failures if decision.pin_failures is None else decision.pin_failures,
        state.last_atc if decision.atc is None else decision.atc,
    )
